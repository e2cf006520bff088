"""Freshness: from `POST /v1/events` answered 202 to the event being counted by the metrics API.

`python -m bench.metrics_freshness [probes]` starts its own broker, `python -m services.ingest` and
`python -m services.metrics` (fresh chDB directory) on free ports, enrols 20 members and moves the
clock, then sends one login at a time, each on a member-day not logged in before, and polls
`GET /v1/cohorts/{c}/daily?from=d&to=d` (every 5 ms) until that day's `logged_in_days` grew.
Prints p50/p95/max and writes bench/out/metrics_freshness.md.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

import httpx
from rich.console import Console

from services.common.auth import mint_token
from services.common.broker import free_port, start_broker, wait_for_port
from services.common.kafka import ensure_topics

from .report import bullet_report

SECRET = "bench-secret-0123456789abcdef0123456789"
REPO = Path(__file__).resolve().parents[1]
console = Console()
MEMBERS, COHORT, START = 20, "fresh", date(2026, 6, 1)


def main() -> None:
    probes = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    broker, bootstrap = start_broker()
    ensure_topics(bootstrap)
    processes = []
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "KAFKA_BOOTSTRAP": bootstrap, "JWT_SECRET": SECRET, "LOG_LEVEL": "WARNING",
               "CLICKHOUSE_URL": f"chdb://{tmp}/chdb", "METRICS_ROLLUP_INTERVAL_S": "0", "FAUST_DATADIR": tmp}
        env.pop("PORT", None)
        ingest_port, metrics_port = free_port(), free_port()
        try:
            for module, port_var, port in (("services.ingest", "INGEST_PORT", ingest_port),
                                           ("services.metrics", "METRICS_PORT", metrics_port)):
                processes.append(
                    subprocess.Popen(
                        [sys.executable, "-m", module],
                        cwd=REPO,
                        env={**env, port_var: str(port)},
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                )
                wait_for_port(port, timeout_s=60)
            admin = {"Authorization": f"Bearer {mint_token(SECRET, 'ops', 'admin')}"}
            ingest = httpx.Client(base_url=f"http://127.0.0.1:{ingest_port}", headers=admin)
            metrics = httpx.Client(base_url=f"http://127.0.0.1:{metrics_port}/v1/cohorts/{COHORT}", headers=admin)
            for m in range(MEMBERS):
                ingest.post("/v1/enrollments", json={"member_id": f"f-{m}", "cohort": COHORT, "timezone": "UTC",
                                                     "enrolled_on": START.isoformat()}).raise_for_status()
            ingest.post("/v1/admin/clock", json={"now": "2026-11-01T00:00:00Z"}).raise_for_status()
            deadline = time.monotonic() + 60
            while metrics.get("/members").status_code != 200 or len(metrics.get("/members").json()) < MEMBERS:
                assert time.monotonic() < deadline, "metrics service did not catch up"
                time.sleep(0.1)
            samples = []
            for i in range(probes):
                day = START + timedelta(days=i // MEMBERS)
                params = {"from": day.isoformat(), "to": day.isoformat()}
                before = metrics.get("/daily", params=params).json()
                count = before[0]["logged_in_days"] if before else 0
                event = {"event_id": str(uuid.uuid4()), "type": "login", "member_id": f"f-{i % MEMBERS}",
                         "occurred_at": f"{day.isoformat()}T12:00:00Z", "payload": {}}
                ingest.post("/v1/events", json=event).raise_for_status()
                accepted = time.perf_counter()
                while True:
                    rows = metrics.get("/daily", params=params).json()
                    if rows and rows[0]["logged_in_days"] > count:
                        break
                    assert time.perf_counter() - accepted < 30, "event never became visible"
                    time.sleep(0.005)
                samples.append(time.perf_counter() - accepted)
        finally:
            for p in processes:
                p.terminate()
                p.wait(15)
            broker.terminate()
            broker.wait(10)
    samples.sort()
    p50, p95 = statistics.median(samples), samples[int(0.95 * (len(samples) - 1))]
    line = (
        f"accepted → visible in API over {probes} probes: p50 {p50 * 1000:.0f} ms, "
        f"p95 {p95 * 1000:.0f} ms, max {samples[-1] * 1000:.0f} ms"
    )
    bullet_report("metrics_freshness", "metrics freshness", [line], console)


if __name__ == "__main__":
    main()
