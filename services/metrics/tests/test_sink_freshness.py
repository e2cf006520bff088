"""Sink lag and data freshness gauges on the real broker and real chDB: the age of the latest tick written,
the seconds since the last write, and the records the sink is behind while ClickHouse refuses writes."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

from prometheus_client import REGISTRY

from contracts.clock import ClockTick, tick_event_id
from contracts.topics import CLOCK_TICKS
from services.common.kafka import Publisher, Record
from services.metrics.clickhouse import connect
from services.metrics.rows import CONVERTERS
from services.metrics.schema import TABLE_SCHEMAS, migrate
from services.metrics.sink import Sink

from .test_sink import FlakyClickHouse, _until


def _value(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def _ticks(bootstrap: str, now: datetime) -> None:
    tick = ClockTick(event_id=tick_event_id(now), now=now).model_dump_json().encode()

    async def send() -> None:
        publisher = await asyncio.to_thread(Publisher, bootstrap)
        try:  # a tick goes to every partition, like the clock writes it
            await publisher.publish([Record(CLOCK_TICKS.name, str(p).encode(), tick, partition=p)
                                     for p in range(CLOCK_TICKS.partitions)])
        finally:
            await asyncio.to_thread(publisher.close)

    asyncio.run(send())


def test_freshness_and_lag_gauges(own_broker, tmp_path):
    _, bootstrap = own_broker
    an_hour_ago = (datetime.now(timezone.utc) - timedelta(hours=1)).replace(second=0, microsecond=0)
    _ticks(bootstrap, an_hour_ago)
    real = connect(f"chdb://{tmp_path / 'chdb'}")
    migrate(real)
    ch = FlakyClickHouse(real)

    async def scenario() -> None:
        ch.down = True  # ClickHouse refuses writes: the sink stays behind by every tick record
        sink = Sink(ch, bootstrap, CONVERTERS, TABLE_SCHEMAS, poll_ms=50, retry_max_s=0.2)
        await sink.start()
        await _until(lambda: _value("metrics_sink_lag_records", topic=CLOCK_TICKS.name) == CLOCK_TICKS.partitions,
                     "lag never showed the unwritten ticks")
        assert _value("metrics_clock_tick_age_seconds") == 0.0  # no tick written yet
        ch.down = False
        await _until(lambda: sink.batches >= 1 and sink.caught_up.is_set(), "the sink never wrote")
        await _until(lambda: _value("metrics_sink_lag_records", topic=CLOCK_TICKS.name) == 0, "lag stayed up")
        age = _value("metrics_clock_tick_age_seconds")
        assert 3600 <= age < 3600 * 2, age  # the tick written is an hour old
        assert 0 <= _value("metrics_sink_seconds_since_write") < age
        await sink.stop()
        assert _value("metrics_sink_seconds_since_write") == 0 and _value("metrics_clock_tick_age_seconds") == 0

    try:
        asyncio.run(scenario())
    finally:
        real.close()
