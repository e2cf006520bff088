"""faust's own ceiling on this machine: one agent that does NOTHING but count records.

`python -m bench.metrics_faust_floor [events]` starts its own broker, produces the same events as
`bench.metrics_stream`, then runs a faust app (the service's faust settings) whose only agent counts
records in batches with `stream.take(2000, within=0.05)` (what the metrics agent does): once on
faust's stock aiokafka transport and once on the services' direct-delivery transport
(`services.common.faust_transport`). The steady rate is the most any member-day code could reach
with faust's per-record machinery on this machine. Writes bench/out/metrics_faust_floor.md.
"""

from __future__ import annotations

import asyncio
import secrets
import sys
import tempfile
import time
import uuid

from faust.transport.drivers import aiokafka as aiokafka_driver
from rich.console import Console

from contracts.topics import ENGAGEMENT_EVENTS
from services.common.process import tune_gc
from services.common.stream import catalogue_topic, faust_app_running, make_faust_app
from services.metrics.settings import MetricsSettings

from .metrics_stream import broker_with_events
from .report import bullet_report

console = Console()


async def rate(bootstrap: str, events: int, stock: bool) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        settings = MetricsSettings(kafka_bootstrap=bootstrap, auth_dev=True, jwt_secret=secrets.token_urlsafe(48),
                                   faust_datadir=tmp)
        app = make_faust_app(f"floor-{uuid.uuid4().hex[:8]}", settings,
                             stream_buffer_maxsize=32_768, broker_max_poll_records=5_000)
        if stock:
            app.transport = aiokafka_driver.Transport(app.conf.broker_consumer, app)
        seen, first = [0], [0.0]

        @app.agent(catalogue_topic(app, ENGAGEMENT_EVENTS))
        async def count(stream):
            async for values in stream.take(2_000, within=0.05):
                first[0] = first[0] or time.perf_counter()
                seen[0] += len(values)

        async with faust_app_running(app):
            while seen[0] < events:
                await asyncio.sleep(0.02)
            done = time.perf_counter()
    return events / (done - first[0])


def main() -> None:
    tune_gc()  # as every service process does (services.common.web.serve)
    events = int(sys.argv[1]) if len(sys.argv) > 1 else 60_000
    with broker_with_events(events) as bootstrap:
        stock = asyncio.run(rate(bootstrap, events, stock=True))
        direct = asyncio.run(rate(bootstrap, events, stock=False))
    lines = [f"empty faust agent, {events:,} events, faust's stock transport: {stock:,.0f} records/s",
             f"empty faust agent, {events:,} events, direct delivery (the services'): {direct:,.0f} records/s"]
    bullet_report("metrics_faust_floor", "faust floor", lines, console)


if __name__ == "__main__":
    main()
