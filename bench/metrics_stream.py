"""faust member-day state throughput: events/s applied by ONE metrics worker.

`python -m bench.metrics_stream [events]` starts its own broker, enrols 1,000 members, produces the
events (kafka-python, acks=all) BEFORE the worker starts, then starts one faust app (the service's
agents: member-day state + engagement.daily publication) and measures from its start until every
event is applied — group join included (reported apart), so the steady rate is also printed.
Writes bench/out/metrics_stream.md.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
import uuid
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from kafka import KafkaProducer
from rich.console import Console

from services.common.broker import start_broker
from services.common.kafka import ensure_topics, producer_config
from services.common.stream import faust_app_running
from services.metrics.settings import MetricsSettings
from services.metrics.stream import build_faust_app, close_publisher
from services.metrics.telemetry import STREAM_EVENTS

OUT = Path(__file__).parent / "out"
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


def applied() -> float:
    return STREAM_EVENTS.labels("engagement.events")._value.get()


async def run(bootstrap: str, events: int) -> tuple[float, float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = MetricsSettings(kafka_bootstrap=bootstrap, jwt_secret="x" * 32, faust_datadir=tmp)
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


def main() -> None:
    events = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    process, bootstrap = start_broker()
    try:
        ensure_topics(bootstrap)
        console.print(f"producing {events:,} events for {MEMBERS} members …")
        produce(bootstrap, events)
        join_s, apply_s, total_s = asyncio.run(run(bootstrap, events))
    finally:
        process.terminate()
        process.wait(10)
    lines = [f"events applied by one faust worker: {events:,}",
             f"group join + first event: {join_s:.1f} s",
             f"steady rate (first → last event, incl. engagement.daily publication): {events / apply_s:,.0f} events/s",
             f"overall incl. join: {events / total_s:,.0f} events/s"]
    for line in lines:
        console.print(line)
    OUT.mkdir(exist_ok=True)
    (OUT / "metrics_stream.md").write_text("# metrics faust throughput\n\n" + "\n".join(f"* {l}" for l in lines) + "\n")


if __name__ == "__main__":
    main()
