"""faust member-day state throughput: events/s applied by ONE metrics worker.

`python -m bench.metrics_stream [events]` starts its own broker, enrols 1,000 members, produces the
events (kafka-python, acks=all) BEFORE the worker starts, then
1. starts one faust app in this process (the service's agents: member-day state + engagement.daily
   publication) and measures from its start until every event is applied and every changed
   member-day acknowledged — group join included (reported apart), so the steady rate is also printed;
2. starts the whole worker process (`python -m services.metrics` on a fresh chDB: faust, the
   ClickHouse sink and the API on one event loop, as `metrics-worker` runs) on the same log and reads
   its /metrics until the stream has applied, and the sink has stored, every event.
Writes bench/out/metrics_stream.md.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone

import httpx
from kafka import KafkaProducer
from rich.console import Console

from services.common.broker import free_port, start_broker
from services.common.kafka import ensure_topics, producer_config
from services.common.process import tune_gc
from services.common.stream import faust_app_running
from services.metrics.settings import MetricsSettings
from services.metrics.stream import build_faust_app, close_publisher
from services.metrics.telemetry import STREAM_EVENTS

from .report import bullet_report

console = Console()
MEMBERS = 1000


def produce(bootstrap: str, events: int) -> None:
    producer = KafkaProducer(**producer_config(bootstrap, 30_000, "bench"))
    now = datetime(2026, 9, 1, tzinfo=timezone.utc)
    for m in range(MEMBERS):
        e = {"type": "member.enrolled", "event_id": str(uuid.uuid4()), "member_id": f"m-{m}", "cohort": "bench",
             "timezone": "Asia/Shanghai", "enrolled_on": "2026-06-01", "occurred_at": now.isoformat()}
        producer.send("members", key=e["member_id"].encode(), value=json.dumps(e).encode())
    base = datetime(2026, 6, 1, tzinfo=timezone.utc)
    for i in range(events):
        member = f"m-{i % MEMBERS}"
        at = base + timedelta(minutes=37 * (i // MEMBERS))
        e = {"event_id": str(uuid.uuid4()), "type": "checkin", "member_id": member, "occurred_at": at.isoformat(),
             "received_at": now.isoformat(), "payload": {"task": ("meal", "exercise", "meditation")[i % 3]}}
        producer.send("engagement.events", key=member.encode(), value=json.dumps(e).encode())
    producer.flush()
    producer.close()


@contextmanager
def broker_with_events(events: int) -> Iterator[str]:
    """A fresh broker holding the enrolments and `events` events (produced before any worker starts);
    its bootstrap address. The broker stops at exit."""
    process, bootstrap = start_broker()
    try:
        ensure_topics(bootstrap)
        console.print(f"producing {events:,} events for {MEMBERS} members …")
        produce(bootstrap, events)
        yield bootstrap
    finally:
        process.terminate()
        process.wait(10)


def applied() -> float:
    return STREAM_EVENTS.labels("engagement.events")._value.get()


async def run(bootstrap: str, events: int) -> tuple[float, float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = MetricsSettings(kafka_bootstrap=bootstrap, auth_dev=True, jwt_secret=secrets.token_urlsafe(48),
                                   faust_datadir=tmp)
        app = build_faust_app(settings)
        started = time.perf_counter()
        async with faust_app_running(app):
            while applied() == 0:
                await asyncio.sleep(0.01)
            first = time.perf_counter()
            while applied() < events:
                await asyncio.sleep(0.05)
            await app.daily.flushed()  # every changed member-day acknowledged on engagement.daily
            done = time.perf_counter()
        await close_publisher(app)
    return first - started, done - first, done - started


def _counter(text: str, series: str) -> float:
    match = re.search(rf"^{re.escape(series)} (\S+)$", text, re.M)
    return float(match.group(1)) if match else 0.0


def run_worker_process(bootstrap: str, events: int) -> tuple[dict[str, float], float]:
    """Seconds from the worker process's start until its stream applied / its sink stored every event
    (the start covers imports, chDB, migrations and the group join), and the stream's rate from the
    first /metrics answer on (the API answers only once start-up is done)."""
    series = {"stream": 'metrics_stream_records_total{topic="engagement.events"}',
              "sink": 'metrics_sink_rows_total{table="events"}'}
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        env = {**os.environ, "KAFKA_BOOTSTRAP": bootstrap, "AUTH_DEV": "1", "JWT_SECRET": secrets.token_urlsafe(48),
               "METRICS_PORT": str(port),
               "CLICKHOUSE_URL": f"chdb://{tmp}/chdb", "FAUST_DATADIR": f"{tmp}/faust",
               "METRICS_ROLLUP_INTERVAL_S": "0"}
        log = open(f"{tmp}/metrics.log", "wb")
        started = time.perf_counter()
        worker = subprocess.Popen([sys.executable, "-m", "services.metrics"], env=env, stdout=log, stderr=log)
        seen: dict[str, float] = {}
        first_answer: tuple[float, float] | None = None  # (seconds, events applied)
        try:
            deadline = time.monotonic() + 600
            while sum(k.endswith("done") for k in seen) < 2 and time.monotonic() < deadline:
                if worker.poll() is not None:
                    raise SystemExit(f"services.metrics exited with {worker.returncode}; see its log")
                try:
                    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
                except httpx.HTTPError:
                    time.sleep(0.1)
                    continue
                now = time.perf_counter() - started
                first_answer = first_answer or (now, _counter(text, series["stream"]))
                for name, line in series.items():
                    value = _counter(text, line)
                    if value >= events:
                        seen.setdefault(f"{name} done", now)
                time.sleep(0.05)
        finally:
            worker.terminate()
            worker.wait(30)
    if sum(k.endswith("done") for k in seen) < 2:
        raise SystemExit(f"the worker process did not apply and store {events:,} events in 10 minutes")
    at, applied_then = first_answer
    return seen, (events - applied_then) / (seen["stream done"] - at)


def main() -> None:
    tune_gc()  # as every service process does (services.common.web.serve)
    events = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    with broker_with_events(events) as bootstrap:
        join_s, apply_s, total_s = asyncio.run(run(bootstrap, events))
        console.print("the whole worker process (python -m services.metrics: faust + sink + API) …")
        worker, worker_rate = run_worker_process(bootstrap, events)
    lines = [f"events applied by one faust worker: {events:,}",
             f"group join + first event: {join_s:.1f} s",
             f"steady rate (first → last event, incl. engagement.daily publication): {events / apply_s:,.0f} events/s",
             f"overall incl. join: {events / total_s:,.0f} events/s",
             "whole worker process (faust + ClickHouse sink on chDB + API in one process), seconds from its start: "
             + ", ".join(f"{k} {v:.1f}" for k, v in sorted(worker.items(), key=lambda kv: kv[1])),
             f"whole worker process, stream rate from its first /metrics answer on: {worker_rate:,.0f} events/s"]
    bullet_report("metrics_stream", "metrics faust throughput", lines, console)


if __name__ == "__main__":
    main()
