"""Notifier benchmark: the decision path at programme scale.

`python -m bench.notifier [members] [--broker]` prints a table and writes bench/out/notifier.md:
  1. folding the log into the notifier state (records/s) — the restart rebuild, CPU side;
  2. one clock.tick over every partition at three moments: a quiet minute, a reminder slot (every
     member in one zone due), the day rollover (inactivity judged for everyone) — ms per tick;
  3. with `--broker`: the same log written to a fresh local broker (tansu) and a NotifierRuntime started
     on it — seconds until its state is rebuilt (what a restart costs before /readyz).
"""

from __future__ import annotations

import asyncio
import random
import sys
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from uuid import uuid4

import orjson
from rich.console import Console
from rich.table import Table

from contracts.topics import ENGAGEMENT_EVENTS, MEMBER_PARTITIONS, MEMBERS
from services.common.broker import start_broker
from services.common.kafka import Publisher, Record, ensure_topics
from services.notifier.runtime import NotifierRuntime
from services.notifier.settings import NotifierSettings

OUT = Path(__file__).parent / "out"
ZONES = ("Asia/Shanghai", "America/New_York", "Europe/Berlin", "Australia/Sydney", "UTC")
ENROLLED = date(2026, 9, 1)
SECRET = "bench-secret-0123456789abcdef0123456789"


def make_log(members: int, days: int = 10) -> list[tuple[str, int, bytes, bytes]]:
    """(topic, partition, key, value) — cohort settings, enrolments, ~2.2 events per member-day; a
    quarter of the members stop logging in after day 5 (they will alert)."""
    rng = random.Random(7)
    log = [(MEMBERS.name, 0, b"cohort:bench", orjson.dumps({
        "type": "cohort.configured", "event_id": str(uuid4()), "cohort": "bench",
        "settings": {"nurses": ["n-1", "n-2", "n-3"], "lead_nurse": "n-1"}, "occurred_at": "2026-09-01T00:00:00Z"}))]
    for i in range(members):
        member, zone = f"m-{i:06d}", ZONES[i % len(ZONES)]
        partition = i % MEMBER_PARTITIONS
        log.append((MEMBERS.name, partition, member.encode(), orjson.dumps({
            "type": "member.enrolled", "event_id": str(uuid4()), "member_id": member, "cohort": "bench",
            "timezone": zone, "enrolled_on": ENROLLED.isoformat(), "occurred_at": "2026-09-01T00:00:00Z"})))
        for d in range(days if i % 4 else 5):
            at = datetime(2026, 9, 1, 10, tzinfo=timezone.utc) + timedelta(days=d, minutes=rng.randrange(600))
            for kind, payload in (("login", {}), ("checkin", {"task": rng.choice(["meal", "exercise"])})):
                if kind == "checkin" and rng.random() < 0.2:
                    continue
                log.append((ENGAGEMENT_EVENTS.name, partition, member.encode(), orjson.dumps({
                    "type": kind, "event_id": str(uuid4()), "member_id": member, "occurred_at": at.isoformat(),
                    "received_at": at.isoformat(), "payload": payload})))
    return log


def tick_cost(runtime: NotifierRuntime, now: datetime) -> tuple[float, int, int]:
    started = time.perf_counter()
    notes = events = 0
    for partition in range(MEMBER_PARTITIONS):
        n, e = runtime.state.decide(partition, now)
        notes, events = notes + len(n), events + len(e)
        runtime.state.requested.update(x.dedup_key for x in n)  # as commit() does after the broker's ack
        for event in e:
            runtime.state.queue.apply(event)
    return (time.perf_counter() - started) * 1000, notes, events


async def rebuild_on_broker(log) -> tuple[float, int]:
    process, bootstrap = start_broker()
    try:
        ensure_topics(bootstrap)
        publisher = Publisher(bootstrap, delivery_timeout_ms=30_000)
        for start in range(0, len(log), 5000):
            await publisher.publish([Record(t, k, v, p) for t, p, k, v in log[start:start + 5000]])
        publisher.close()
        runtime = NotifierRuntime(NotifierSettings(kafka_bootstrap=bootstrap, jwt_secret=SECRET, rebuild_idle_s=0.5))
        started = time.perf_counter()
        await runtime.start()
        await runtime.rebuilt.wait()
        seconds = time.perf_counter() - started
        count = len(runtime.state.members)
        await runtime.stop()
        return seconds, count
    finally:
        process.terminate()
        process.wait(10)


def main(argv: list[str]) -> None:
    members = int(next((a for a in argv if a.isdigit()), "20000"))
    runtime = NotifierRuntime(NotifierSettings(jwt_secret=SECRET))
    log = make_log(members)
    started = time.perf_counter()
    for topic, partition, _, value in log:
        runtime.fold(topic, partition, value)
    fold_s = time.perf_counter() - started
    rows = [("fold the log (records/s)", f"{len(log) / fold_s:,.0f}", f"{len(log):,} records, {fold_s:.2f} s")]
    for label, now in (("tick, day rollover (Shanghai 00:00)", datetime(2026, 9, 10, 16, 0, tzinfo=timezone.utc)),
                       ("tick, quiet minute", datetime(2026, 9, 10, 16, 1, tzinfo=timezone.utc)),
                       ("tick, reminder slot (Shanghai 08:00)", datetime(2026, 9, 11, 0, 0, tzinfo=timezone.utc))):
        ms, notes, events = tick_cost(runtime, now)
        rows.append((f"{label} (ms, all partitions)", f"{ms:,.1f}", f"{notes:,} notifications, {events:,} alert steps"))
    if "--broker" in argv:
        seconds, count = asyncio.run(rebuild_on_broker(log))
        rows.append(("restart rebuild from tansu (s)", f"{seconds:.1f}", f"{len(log):,} records, {count:,} members"))
    table = Table(title=f"notifier, {members:,} members in {len(ZONES)} zones, 10 days of events")
    for column in ("what", "value", "detail"):
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    Console().print(table)
    OUT.mkdir(exist_ok=True)
    (OUT / "notifier.md").write_text("| what | value | detail |\n|---|---|---|\n"
                                     + "".join(f"| {a} | {b} | {c} |\n" for a, b, c in rows))


if __name__ == "__main__":
    main(sys.argv[1:])
