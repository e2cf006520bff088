"""`python -m bench.sink_headroom [events]`: the single ClickHouse sink's sustained events/s on chDB,
against 10× the national-programme load (docs/scale.md, "Sink headroom").

The metrics sink stays ONE process (chDB locks its directory to one process, and the sink keeps its
Kafka positions in ClickHouse), so instead of scaling it this measures how far one sink is from the
load it must carry. A fresh broker holds `events` client events of 1,000 members (produced BEFORE the
sink starts, as after an outage), then the service's own `Sink` writes them to a fresh chDB with its
default batch size; the rate counts from the first batch written to the last. Writes
bench/out/sink_headroom.md.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time

from rich.console import Console

from services.metrics.clickhouse import connect
from services.metrics.rows import CONVERTERS
from services.metrics.schema import TABLE_SCHEMAS, migrate
from services.metrics.settings import MetricsSettings
from services.metrics.sink import Sink
from services.metrics.telemetry import SINK_ROWS

from .metrics_stream import broker_with_events
from .report import bullet_report

console = Console()

# The national programme (docs/scale.md, "Sink headroom"): the assumptions, stated once.
COHORTS = 5_000             # "thousands of cohorts"
MEMBERS_PER_COHORT = 30     # the study cohort's size
EVENTS_PER_MEMBER_DAY = 20  # logins, posts, three check-ins, meditation plays: a busy member's day
PEAK_HOUR_SHARE = 0.15      # share of a day's events in its busiest hour (reminders go out 3× a day)
SAFETY_FACTOR = 10


def programme_peak_events_s() -> float:
    per_day = COHORTS * MEMBERS_PER_COHORT * EVENTS_PER_MEMBER_DAY
    return per_day * PEAK_HOUR_SHARE / 3600


async def measure(bootstrap: str, events: int) -> tuple[float, int]:
    """Seconds from the first batch fetched to the one that completes `events` rows, and batches."""
    defaults = MetricsSettings.model_fields
    with tempfile.TemporaryDirectory(prefix="bench-sink-") as tmp:
        ch = connect(f"chdb://{tmp}/chdb")
        migrate(ch)
        sink = Sink(ch, bootstrap, CONVERTERS, TABLE_SCHEMAS, defaults["sink_batch_max"].default,
                    defaults["sink_poll_ms"].default)
        written = SINK_ROWS.labels("events")
        start_rows = written._value.get()
        consumer = await sink._assign()  # the sink's own start: positions from ClickHouse, partitions assigned
        first: float | None = None
        batches = 0
        while written._value.get() - start_rows < events:
            before = time.perf_counter()
            if await sink.step(consumer):  # fetch, convert, write, store the positions
                first = first or before
                batches += 1
        done = time.perf_counter()
        await consumer.stop()
        ch.close()
    return done - first, batches


def main() -> None:
    events = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    with broker_with_events(events) as bootstrap:
        seconds, batches = asyncio.run(measure(bootstrap, events))
    rate = events / seconds
    target = programme_peak_events_s() * SAFETY_FACTOR
    lines = [
        f"one sink (service code, chDB, default batch of {MetricsSettings.model_fields['sink_batch_max'].default:,}"
        f" records): {events:,} events in {seconds:.1f} s, {batches} batches: {rate:,.0f} events/s sustained",
        f"national programme, peak hour: {COHORTS:,} cohorts × {MEMBERS_PER_COHORT} members × "
        f"{EVENTS_PER_MEMBER_DAY} events/day × {PEAK_HOUR_SHARE:.0%} in the busiest hour = "
        f"{programme_peak_events_s():,.0f} events/s",
        f"10× that: {target:,.0f} events/s",
        f"sink headroom over 10× the programme's peak: {rate / target:.1f}×",
    ]
    bullet_report("sink_headroom", "metrics sink headroom (one process)", lines, console)


if __name__ == "__main__":
    main()
