"""The flood acceptance (issue 14 item 2) at full size: a million events from one member token leave
every process under its memory limit and every other member's numbers unchanged.

`python -m bench.memory_flood [EVENTS]` (default 1,000,000; `make bench` runs it) starts the platform
as `make run` does (broker, ingest, metrics with its sink and stream, notifier, survey: real processes
with the production defaults, WAITING_PER_MEMBER and WAITING_TOTAL included), replays a simulated
cohort with known ground truth, then floods it twice:

1. through ingest, EVENTS events from one member token (500 a request): ingest's per-member limits
   answer 429, so only the member's hourly allowance gets in;
2. straight onto engagement.events, EVENTS events of a member who was never enrolled (what a foreign
   or backfill source could write past ingest): the notifier and the metrics stream keep at most
   WAITING_PER_MEMBER of them and count the rest as dropped, to the event.

It then checks that the cohort's published numbers still equal the ground truth and equal what they
were before the flood, that the notifier's view of every cohort member is unchanged, and prints the
peak RSS (VmHWM) of every process beside its Kubernetes memory limit (deploy/k8s/base/services).
The CI variant is tests/faults/test_memory_flood.py (a smaller flood, tighter bounds, in-process).
Writes bench/out/memory_flood.md; exit status 1 when a check fails.
"""

from __future__ import annotations

import os
import re
import signal
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

import httpx
import orjson
import yaml
from kafka import KafkaProducer
from rich.console import Console

from bench.run import RssSampler
from loadtests.scenario import rates_cohort
from loadtests.simulate import Platform, replay, wait_for_platform
from loadtests.stack import running
from services.common.auth import mint_token
from services.common.waiting import DEFAULT_PER_MEMBER

ROOT = Path(__file__).resolve().parents[1]
OUT = Path(__file__).parent / "out"
SECRET = "bench-secret-0123456789abcdef0123456789"
SERVICES = ("ingest", "metrics", "notifier", "survey")
# The local metrics process runs what the metrics-worker Deployment runs (sink + stream) plus the API.
DEPLOYMENT_OF = {"ingest": "ingest", "metrics": "metrics-worker", "notifier": "notifier", "survey": "survey"}
BATCH = 500
console = Console()


def memory_limits_mib() -> dict[str, float]:
    """Deployment name → its container's memory limit (MiB), from the base manifests."""
    units = {"Mi": 1, "Gi": 1024, "M": 1e6 / 2**20, "G": 1e9 / 2**20}
    limits = {}
    for path in (ROOT / "deploy" / "k8s" / "base" / "services").glob("*.yaml"):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") == "Deployment":
                for container in doc["spec"]["template"]["spec"]["containers"]:
                    value = container.get("resources", {}).get("limits", {}).get("memory")
                    if value:
                        number, unit = re.fullmatch(r"([\d.]+)(\w+)", value).groups()
                        limits[doc["metadata"]["name"]] = float(number) * units[unit]
    return limits


def sample_value(text: str, name: str, **labels: str) -> float:
    """The value of one Prometheus sample in an exposition text (0 when absent)."""
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in text.splitlines():
        if line.startswith(f"{name}{{{want}}} ") or (not want and line.startswith(f"{name} ")):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def wait(condition, what: str, timeout_s: float, progress=lambda: "") -> None:
    """Poll `condition` every second; a progress line every 30 s; TimeoutError naming `what`."""
    started = time.monotonic()
    shown = started
    while not condition():
        now = time.monotonic()
        if now - started > timeout_s:
            raise TimeoutError(f"{what}: not within {timeout_s:.0f} s ({progress()})")
        if now - shown > 30:
            console.print(f"waiting for {what} ({now - started:.0f} s): {progress()}")
            shown = now
        time.sleep(1.0)


def notifier_view(http: httpx.Client, url: str, admin: str, members: list[str]) -> dict[str, dict]:
    headers = {"Authorization": f"Bearer {admin}"}
    return {m: http.get(f"{url}/v1/members/{m}/engagement", headers=headers).json() for m in members}


def flood_through_ingest(platform: Platform, member: str, events: int, at) -> tuple[int, dict[int, int]]:
    """EVENTS events from one member token, 500 a request, as fast as ingest answers: (events accepted,
    requests by status). The first event is resent until ingest's member directory knows the member."""
    token = mint_token(SECRET, member, ttl=timedelta(hours=2))
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def post(first: int, count: int) -> httpx.Response:
        body = orjson.dumps([{"event_id": str(uuid.uuid4()), "type": "login", "member_id": member,
                              "occurred_at": (at - timedelta(seconds=(first + i) % 86_400)).isoformat(),
                              "payload": {}} for i in range(count)])
        return platform.http.post(platform.ingest("/v1/events"), content=body, headers=headers)

    wait(lambda: post(0, 1).json().get("accepted") == 1, "ingest knows the flooding member", 60)
    accepted, statuses = 1, {202: 1}
    for start in range(1, events, BATCH):
        response = post(start, min(BATCH, events - start))
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        if response.status_code == 202:
            accepted += response.json()["accepted"]
    return accepted, statuses


def flood_the_topic(bootstrap: str, ghost: str, events: int, at) -> float:
    """EVENTS events of a never-enrolled member written straight to engagement.events; seconds taken."""
    started = time.monotonic()
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, batch_size=1 << 20, acks=1)
    key, received = ghost.encode(), at.isoformat()
    for i in range(events):
        producer.send("engagement.events", key=key, value=orjson.dumps({
            "event_id": str(uuid.uuid4()), "type": "login", "member_id": ghost,
            "occurred_at": (at - timedelta(seconds=i % 86_400)).isoformat(), "received_at": received,
            "payload": {}}))
    producer.flush(600)
    producer.close()
    return time.monotonic() - started


def main(events: int) -> int:
    OUT.mkdir(exist_ok=True)
    os.environ.setdefault("AUTH_DEV", "1")  # HS256 tokens signed with SECRET, as `make bench` exports it
    checks: list[tuple[str, bool, str]] = []
    sim = rates_cohort(members=20, weeks=5, seed=14, cohort="flood-sim", prefix="fl")
    members = [e["member_id"] for e in sim.cohort.enrolments]
    run = uuid.uuid4().hex[:6]
    flooder, ghost = f"flooder-{run}", f"ghost-{run}"
    with tempfile.TemporaryDirectory(prefix="bench-flood-") as tmp_name:
        tmp = Path(tmp_name)
        env = {"ingest": {}, "metrics": {"CLICKHOUSE_URL": f"chdb://{tmp / 'chdb'}"}, "notifier": {}, "survey": {}}
        console.rule(f"memory flood: {events:,} events, platform as make run")
        with running(SECRET, tmp, env, ready_timeout_s=600) as stack, \
                RssSampler([stack.broker_pid, *stack.pids().values()]) as rss:
            platform = Platform(stack.urls["ingest"], stack.urls["metrics"], SECRET, timeout_s=120)
            replay(sim, platform, tick_hours=24)
            answer, diffs = wait_for_platform(sim, platform, timeout_s=300)
            checks.append(("calm cohort equals its ground truth", not diffs, f"{len(diffs)} differences"))
            last_tick = max(sim.end, sim.schedule[-1][0])
            # The services refresh their waiting-room series at a clock tick: one a second apart
            # from here on, each later than the last (12:00 UTC is far from any member's midnight).
            ticks = iter(last_tick + timedelta(minutes=1, seconds=i) for i in range(10_000))
            platform.tick(next(ticks))
            # The flooding member: enrolled in a cohort of its own, so the simulated cohort's numbers
            # must not move at all.
            platform.send("POST", platform.ingest("/v1/enrollments"),
                          {"member_id": flooder, "cohort": f"flood-src-{run}", "timezone": "UTC",
                           "enrolled_on": (last_tick - timedelta(days=3)).date().isoformat()})
            admin = platform.admin
            notifier = stack.urls["notifier"]

            def notifier_settled() -> bool:  # the notifier has folded the whole cohort: its view stays put
                first = notifier_view(platform.http, notifier, admin, members)
                time.sleep(2.0)
                return first == notifier_view(platform.http, notifier, admin, members)

            wait(notifier_settled, "notifier settled", 300)
            before_notifier = notifier_view(platform.http, notifier, admin, members)

            t = time.monotonic()
            accepted, statuses = flood_through_ingest(platform, flooder, events, last_tick)
            ingest_s = time.monotonic() - t
            console.print(f"through ingest: {events:,} events in {ingest_s:.0f} s, answers {statuses}")
            checks.append(("ingest lets one token in up to its hourly allowance only",
                           accepted <= 5_000 and set(statuses) <= {202, 429},
                           f"{accepted:,} accepted, requests by status {statuses}"))

            produce_s = flood_the_topic(stack.bootstrap, ghost, events, last_tick)
            console.print(f"straight onto engagement.events: {events:,} events in {produce_s:.0f} s")
            dropped = events - DEFAULT_PER_MEMBER
            t = time.monotonic()

            def drops(url: str, prefix: str) -> float:
                return sample_value(platform.http.get(f"{url}/metrics").text,
                                    f"{prefix}_waiting_events_dropped_total", reason="member_full")

            def flood_counted() -> bool:
                platform.tick(next(ticks))
                return drops(notifier, "notifier") >= dropped and drops(stack.urls["metrics"], "metrics") >= dropped

            wait(flood_counted,
                 "flood read by the notifier and the metrics stream", 1800,
                 lambda: f"dropped {drops(notifier, 'notifier'):,.0f} / {drops(stack.urls['metrics'], 'metrics'):,.0f}"
                         f" of {dropped:,}")

            def sink_lag() -> float:
                text = platform.http.get(f"{stack.urls['metrics']}/metrics").text
                return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                           if line.startswith('metrics_sink_lag_records{topic="engagement.events"}'))

            wait(lambda: sink_lag() == 0, "flood written to ClickHouse by the sink", 1800,
                 lambda: f"sink lag {sink_lag():,.0f} records")
            read_s = time.monotonic() - t
            for service, prefix in (("notifier", "notifier"), ("metrics", "metrics")):
                text = platform.http.get(f"{stack.urls[service]}/metrics").text
                held = sample_value(text, f"{prefix}_waiting_events")
                full = sample_value(text, f"{prefix}_waiting_events_dropped_total", reason="member_full")
                checks.append((f"{service}: waiting room within bounds, drops exact",
                               held <= DEFAULT_PER_MEMBER and full == dropped,
                               f"{held:,.0f} held (bound {DEFAULT_PER_MEMBER:,}), {full:,.0f} dropped "
                               f"(expected {dropped:,})"))
            after, diffs = wait_for_platform(sim, platform, timeout_s=120)
            checks.append(("cohort numbers after the flood equal the ground truth", not diffs,
                           f"{len(diffs)} differences"))
            checks.append(("cohort numbers after the flood equal those before", after == answer,
                           "weekly, members, daytypes, enrolled weekly, summary"))
            after_notifier = notifier_view(platform.http, notifier, admin, members)
            checks.append(("notifier's view of every cohort member unchanged", after_notifier == before_notifier,
                           f"{len(members)} members' last activity and recent days"))
            peaks = {label: kib / 1024 for label, kib in rss.peaks.items()}
    limits = memory_limits_mib()
    rows = []
    for service in SERVICES:
        peak, limit = peaks.get(f"services.{service}", 0.0), limits.get(DEPLOYMENT_OF[service])
        rows.append((f"services.{service}", peak, limit))
        checks.append((f"{service} under its memory limit", limit is not None and peak < limit,
                       f"{peak:,.0f} MiB of {limit or 0:,.0f} MiB"))
    rows.append(("broker (tansu, holds the whole log in memory)", peaks.get("broker (tansu)", 0.0), None))
    return report(events, rows, checks, ingest_s, produce_s, read_s)


def report(events: int, rows, checks, ingest_s: float, produce_s: float, read_s: float) -> int:
    md = [f"# Memory flood: {events:,} events from one member token ({os.cpu_count()} cores)", "",
          f"Through ingest in {ingest_s:.0f} s; straight onto engagement.events in {produce_s:.0f} s; "
          f"read by the notifier and the metrics stream and written by the sink {read_s:.0f} s later.", "",
          "| process | peak RSS (MiB) | k8s memory limit (MiB) | share |", "|---|---|---|---|"]
    md += [f"| {label} | {peak:,.0f} | {'—' if limit is None else f'{limit:,.0f}'} | "
           f"{'—' if not limit else f'{peak / limit:.0%}'} |" for label, peak, limit in rows]
    md += ["", "| check | result | detail |", "|---|---|---|"]
    md += [f"| {name} | {'ok' if ok else 'FAILED'} | {detail} |" for name, ok, detail in checks]
    text = "\n".join(md) + "\n"
    (OUT / "memory_flood.md").write_text(text)
    print(text)  # unwrapped: the tables stay copyable
    return 0 if all(ok for _, ok, _ in checks) else 1


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a timeout still stops the stack it started
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000))
