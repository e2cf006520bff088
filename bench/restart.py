"""`python -m bench.restart [members_per_cohort]`: restart time and peak RSS of each stateful service
after 1, 10 and 100 simulated cohort-months, started from a snapshot vs replayed from offset 0
(docs/scale.md, "Snapshots and restarts").

A cohort-month is one cohort of `members_per_cohort` members (default 10) followed for 30 days: one
enrolment each, a login and a meal check-in every day. The cohorts follow one another (each starts
when the previous one ends, with `ends_on` set), so the number of active members stays the same
while the history grows: 100 cohort-months are 1,000 members, 30,000 member-days and 60,000 events
(scaled so that the 100-month history replays in well under a minute per service). The clock ticks
once a month (at each cohort's start, on every partition of `clock.ticks`): enough for the notifier and
the survey service to retire the members whose follow-up ended (docs/scale.md, "Retiring ended members";
the metrics stream, which retires only at a tick read at its log end, gets one more once its first start
has caught up), few enough that the first start does not decide a century of reminders. The ticks are
written once the first start of the first service (the survey) has scheduled every member, so no schedule races them.

For each history length, on a fresh broker, each service (notifier, survey, metrics with its sink) is
started three times: with snapshots on (a full replay that writes a snapshot on its clean stop, and
commits the consumer group to the log end), then with snapshots off (the measured full replay), then
with snapshots on again (the measured restart from the snapshot). A start is timed from the process
launch until it is ready (notifier, survey: /readyz, the state rebuilt; metrics: /readyz, the sink
caught up, and the stream's applied offsets at the log end). Peak RSS is the process's VmHWM at that moment. Writes
bench/out/restart.md.
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from tempfile import TemporaryDirectory

from kafka import KafkaProducer

from contracts.clock import tick_event_id
from contracts.topics import CLOCK_TICKS, ENGAGEMENT_EVENTS, MEMBERS
from services.common.broker import free_port, start_broker
from services.common.kafka import ensure_topics
from tests.scale.workers import applied_offsets
from testsupport.broker import ServiceProcess
from testsupport.logs import logged_since

OUT = Path(__file__).parent / "out"
HISTORIES = tuple(int(x) for x in os.environ.get("RESTART_HISTORIES", "1,10,100").split(","))
START = date(2024, 1, 1)
NS = uuid.UUID("6f7c1c52-3a35-4a47-9a37-0b5f3e0c2a10")
PORT_ENV = {"notifier": "NOTIFIER_PORT", "survey": "SURVEY_PORT", "metrics": "METRICS_PORT"}


def write_history(bootstrap: str, months: int, members: int) -> dict[tuple[str, int], int]:
    """The cohort-months on the log; returns the records written per (topic, partition)."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=20, batch_size=512 * 1024)
    written: dict[tuple[str, int], int] = {}

    def sent(md) -> None:
        written[(md.topic, md.partition)] = max(written.get((md.topic, md.partition), 0), md.offset + 1)

    def send(topic: str, key: str, value: dict) -> None:
        producer.send(topic, key=key.encode(), value=json.dumps(value).encode()).add_callback(sent)

    for month in range(months):
        cohort, first = f"cohort-{month:03d}", START + timedelta(days=30 * month)
        send(MEMBERS.name, f"cohort:{cohort}", {
            "type": "cohort.configured", "event_id": str(uuid.uuid5(NS, cohort)), "cohort": cohort,
            "settings": {"ends_on": (first + timedelta(days=29)).isoformat()}, "occurred_at": "2023-12-01T00:00:00Z"})
        for i in range(members):
            member = f"{cohort}-m{i:03d}"
            send(MEMBERS.name, member, {
                "type": "member.enrolled", "event_id": str(uuid.uuid5(NS, member)), "member_id": member,
                "cohort": cohort, "timezone": "Europe/Berlin", "enrolled_on": first.isoformat(),
                "occurred_at": "2023-12-01T00:00:00Z"})
            for day in range(30):
                at = datetime.combine(first + timedelta(days=day), datetime.min.time(), timezone.utc) \
                    + timedelta(hours=9, minutes=i % 60)
                for kind, payload in (("login", {}), ("checkin", {"task": "meal"})):
                    send(ENGAGEMENT_EVENTS.name, member, {
                        "type": kind, "event_id": str(uuid.uuid5(NS, f"{member}|{day}|{kind}")), "member_id": member,
                        "occurred_at": at.isoformat(), "received_at": at.isoformat(), "payload": payload})
    producer.flush(120)
    producer.close()
    return written


def write_ticks(bootstrap: str, months: int, next_day: bool = False) -> dict[tuple[str, int], int]:
    """A tick at 00:30 UTC of each cohort's first day after the first, and one more a month after the
    last cohort ended, on every partition (as services/clock does). `next_day`: only the tick a day
    after that last one (the clock going on while a service runs)."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=20)
    written: dict[tuple[str, int], int] = {}
    partitions = sorted(producer.partitions_for(CLOCK_TICKS.name))
    for month in ([months + 1] if next_day else range(1, months + 2)):
        now = datetime.combine(START + timedelta(days=30 * month + int(next_day)), datetime.min.time(),
                               timezone.utc) + timedelta(minutes=30)
        value = json.dumps({"type": "clock.tick", "event_id": str(tick_event_id(now)), "now": now.isoformat()})
        for p in partitions:
            md = producer.send(CLOCK_TICKS.name, key=str(p).encode(), value=value.encode(), partition=p).get(60)
            written[(md.topic, md.partition)] = md.offset + 1
    producer.flush(60)
    producer.close()
    return written


def wait_stream_applied(url: str, written: dict[tuple[str, int], int], topics: set[str]) -> None:
    """Until the service's stream applied what was written to `topics` (every partition)."""
    while not all(applied_offsets(url).get(("stream", t, p), 0) >= end
                  for (t, p), end in written.items() if t in topics):
        time.sleep(0.2)


def vm_hwm_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


REBUILT_EVENTS = {"notifier_state_rebuilt", "survey_book_rebuilt"}


def rebuild_seconds(entries: list[dict]) -> float | None:
    """Restore + fold time the service logged itself (notifier, survey): without the process start."""
    total, seen = 0.0, False
    for entry in entries:
        if entry.get("event") == "snapshot_restored" or entry.get("event") in REBUILT_EVENTS:
            total += float(entry.get("seconds", 0))
            seen = seen or entry.get("event") in REBUILT_EVENTS
    return total if seen else None


def start_timed(service: str, bootstrap: str, tmp: Path, snapshots: bool,
                written: dict[tuple[str, int], int], group: str) -> tuple[ServiceProcess, float, float, float | None]:
    port = free_port()
    env = {**os.environ, "KAFKA_BOOTSTRAP": bootstrap, "AUTH_DEV": "1", PORT_ENV[service]: str(port),
           "JWT_SECRET": "bench-restart-secret-0123456789abcdef", "FAUST_DATADIR": str(tmp / "faust"),
           "LOG_LEVEL": "INFO", "SNAPSHOTS_ENABLED": "1" if snapshots else "0",
           "NOTIFIER_REBUILD_IDLE_S": "0.5", "SURVEY_REBUILD_IDLE_S": "0.5", "CLICKHOUSE_URL": f"chdb://{tmp / 'chdb'}",
           "NOTIFIER_GROUP_ID": group, "SURVEY_GROUP_ID": group, "CLOCK_MODE": "simulated"}
    env.pop("PORT", None)
    log_path = tmp / f"{service}.log"
    log_from = log_path.stat().st_size if log_path.exists() else 0
    process = ServiceProcess(service, env, port, log_path=str(log_path))
    started = time.monotonic()
    process.start(ready_timeout_s=600)
    if service == "metrics":  # the stream's book has folded the whole log too
        wanted = {key: end for key, end in written.items() if key[0] != CLOCK_TICKS.name}  # ticks: see measure
        while True:
            applied = applied_offsets(process.url)
            if all(applied.get(("stream", t, p), 0) >= end for (t, p), end in wanted.items()):
                break
            time.sleep(0.1)
    seconds = time.monotonic() - started
    return process, seconds, vm_hwm_mib(process.process.pid), rebuild_seconds(logged_since(log_path, log_from))


def measure(months: int, members: int) -> list[dict]:
    rows = []
    broker, bootstrap = start_broker()
    try:
        ensure_topics(bootstrap)
        written = write_history(bootstrap, months, members)
        records = sum(written.values())
        print(f"{months} cohort-months: {records:,} records written", flush=True)
        for service in ("survey", "notifier", "metrics"):
            with TemporaryDirectory() as tmp:
                tmp_path, group = Path(tmp), f"bench-{service}-{uuid.uuid4().hex[:6]}"
                # 1st start: replays, decides the ticks, writes the snapshot and commits the group's offsets to
                # the log end, so the measured starts below are restarts (the faust agents resume from the commits)
                writer, _, _, _ = start_timed(service, bootstrap, tmp_path, True, written, group)
                if not any(t == CLOCK_TICKS.name for t, _ in written):
                    wait_stream_applied(writer.url, written, {MEMBERS.name})  # every member scheduled
                    written.update(write_ticks(bootstrap, months))
                wait_stream_applied(writer.url, written, {CLOCK_TICKS.name})
                if service == "metrics":
                    # The stream retires ended members only at a tick it reads once its partitions are
                    # rebuilt (docs/scale.md, "Retiring ended members"); live, the next tick comes within
                    # a minute. It is the last service, so the others never see this tick.
                    written.update(write_ticks(bootstrap, months, next_day=True))
                    wait_stream_applied(writer.url, written, {CLOCK_TICKS.name})
                time.sleep(2)  # the decisions' own records (steps, notes) folded back by the log tail
                writer.stop()
                replay, replay_s, replay_mib, replay_fold = start_timed(service, bootstrap, tmp_path, False, written,
                                                                        group)
                replay.stop()
                restart, snap_s, snap_mib, snap_fold = start_timed(service, bootstrap, tmp_path, True, written, group)
                snapshot_bytes = _snapshot_bytes(bootstrap, service)
                restart.stop()
            rows.append(dict(service=service, months=months, members=months * members, records=records,
                             replay_s=replay_s, replay_mib=replay_mib, snapshot_s=snap_s, snapshot_mib=snap_mib,
                             snapshot_bytes=snapshot_bytes, replay_fold=replay_fold, snapshot_fold=snap_fold))
            print(f"  {service}: full replay {replay_s:.1f} s (state {fold_text(replay_fold)}) / {replay_mib:.0f} MiB, "
                  f"from snapshot {snap_s:.1f} s (state {fold_text(snap_fold)}) / {snap_mib:.0f} MiB "
                  f"({snapshot_bytes / 1024:.0f} KiB)", flush=True)
    finally:
        broker.terminate()
        broker.wait(10)
    return rows


def fold_text(seconds: float | None, unit: str = " s") -> str:
    """A logged state time, or – when the service logs none (metrics)."""
    return "–" if seconds is None else f"{seconds:.2f}{unit}"


def _snapshot_bytes(bootstrap: str, service: str) -> int:
    """The size of the service's newest snapshots on its topic (the metrics stream: one per partition)."""
    import asyncio

    from contracts.topics import MEMBER_PARTITIONS, METRICS_SNAPSHOTS, NOTIFIER_SNAPSHOTS, SURVEY_SNAPSHOTS
    from services.common.snapshots import read_newest_of
    from services.metrics.snapshot import scope

    topic = {"notifier": NOTIFIER_SNAPSHOTS, "survey": SURVEY_SNAPSHOTS, "metrics": METRICS_SNAPSHOTS}[service]
    keys = [scope(p).encode() for p in range(MEMBER_PARTITIONS)] if service == "metrics" else [service.encode()]
    found = asyncio.run(read_newest_of(bootstrap, topic, keys))
    return sum(len(value or b"") for value in found.values())


def main(members: int) -> int:
    OUT.mkdir(exist_ok=True)
    started = time.monotonic()
    rows = [row for months in HISTORIES for row in measure(months, members)]
    lines = ["# Restarts: from a snapshot vs full replay", "",
             f"Cohort-months of {members} members (30 days, a login and a check-in a day, a tick a month); each cohort "
             "ends before the next starts, so the active members stay the same. start = process launch → ready "
             "(metrics: its stream applied the whole log too; the process start itself, imports and faust, is "
             "most of it on a busy machine); state = the restore + fold time the service logs (notifier, "
             "survey); MiB = VmHWM when ready.", "",
             "| service | cohort-months | records | replay: start s | state s | MiB "
             "| snapshot: start s | state s | MiB | snapshot KiB |",
             "|---|---|---|---|---|---|---|---|---|---|"]

    lines += [f"| {r['service']} | {r['months']} | {r['records']:,} | {r['replay_s']:.1f} "
              f"| {fold_text(r['replay_fold'], '')} | {r['replay_mib']:.0f} | {r['snapshot_s']:.1f} "
              f"| {fold_text(r['snapshot_fold'], '')} | {r['snapshot_mib']:.0f} | {r['snapshot_bytes'] / 1024:,.0f} |"
              for r in rows]
    lines += ["", f"Wall time of this benchmark: {time.monotonic() - started:.0f} s."]
    (OUT / "restart.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 10))
