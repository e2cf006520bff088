"""faust's own ceiling on this machine: one agent that does NOTHING but count records.

`python -m bench.metrics_faust_floor [events]` starts its own broker, produces the same events as
`bench.metrics_stream`, then runs a faust app (the service's faust settings) whose only agent counts
records, once iterating batches with `stream.take(2000, within=0.05)` (what the metrics agent does)
and once record by record. The steady rate is the most any member-day code could reach with faust's
per-record machinery on this machine. Writes bench/out/metrics_faust_floor.md.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
import uuid

from rich.console import Console

from contracts.topics import ENGAGEMENT_EVENTS
from services.common.broker import start_broker
from services.common.kafka import ensure_topics
from services.common.stream import catalogue_topic, faust_app_running, make_faust_app
from services.metrics.settings import MetricsSettings

from .metrics_stream import OUT, produce

console = Console()


async def rate(bootstrap: str, events: int, batched: bool) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        settings = MetricsSettings(kafka_bootstrap=bootstrap, jwt_secret="x" * 32, faust_datadir=tmp)
        app = make_faust_app(f"floor-{uuid.uuid4().hex[:8]}", settings,
                             stream_buffer_maxsize=32_768, broker_max_poll_records=5_000)
        seen, first = [0], [0.0]

        @app.agent(catalogue_topic(app, ENGAGEMENT_EVENTS))
        async def count(stream):
            if batched:
                async for values in stream.take(2_000, within=0.05):
                    first[0] = first[0] or time.perf_counter()
                    seen[0] += len(values)
            else:
                async for _ in stream:
                    first[0] = first[0] or time.perf_counter()
                    seen[0] += 1

        async with faust_app_running(app):
            while seen[0] < events:
                await asyncio.sleep(0.02)
            done = time.perf_counter()
    return events / (done - first[0])


def main() -> None:
    events = int(sys.argv[1]) if len(sys.argv) > 1 else 60_000
    process, bootstrap = start_broker()
    try:
        ensure_topics(bootstrap)
        produce(bootstrap, events)
        take = asyncio.run(rate(bootstrap, events, batched=True))
        each = asyncio.run(rate(bootstrap, events, batched=False))
    finally:
        process.terminate()
        process.wait(10)
    lines = [f"empty faust agent, {events:,} events, stream.take(2000): {take:,.0f} records/s",
             f"empty faust agent, {events:,} events, record by record: {each:,.0f} records/s"]
    for line in lines:
        console.print(line)
    OUT.mkdir(exist_ok=True)
    (OUT / "metrics_faust_floor.md").write_text("# faust floor\n\n" + "\n".join(f"* {l}" for l in lines) + "\n")


if __name__ == "__main__":
    main()
