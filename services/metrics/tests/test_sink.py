"""The sink against the real broker and real chDB while ClickHouse refuses writes: no position is
stored, nothing is skipped; after it comes back (or after a restart) every record is there once."""

from __future__ import annotations

import asyncio
import time

from services.metrics.clickhouse import ClickHouseError, connect
from services.metrics.rows import CONVERTERS
from services.metrics.schema import TABLE_SCHEMAS, migrate
from services.metrics import telemetry
from services.metrics.sink import Sink, load_positions
from testsupport.cohort import generate

from .conftest import ingest_client, send_cohort, sunk_counts, unique_prefix


class FlakyClickHouse:
    """The real chDB client whose writes fail while `down` is set (a ClickHouse outage)."""

    def __init__(self, inner) -> None:
        self.inner, self.down, self.database = inner, False, inner.database

    def insert(self, *args):
        if self.down:
            raise ClickHouseError("Code: 210. Connection refused (simulated outage)")
        return self.inner.insert(*args)

    def command(self, *args):
        return self.inner.command(*args)

    def query(self, *args):
        return self.inner.query(*args)


async def _until(predicate, what: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.1)


def test_clickhouse_outage_loses_nothing(own_broker, jwt_secret, admin_token, tmp_path):
    _, bootstrap = own_broker
    prefix = unique_prefix()
    g = generate(seed=2, members=6, weeks=4, cohort=f"sink-{prefix}", prefix=prefix)
    with ingest_client(bootstrap, jwt_secret) as ingest:
        send_cohort(ingest, admin_token, g)
    real = connect(f"chdb://{tmp_path / 'chdb'}")
    migrate(real)
    ch = FlakyClickHouse(real)
    topics = list(CONVERTERS)

    async def scenario() -> None:
        ch.down = True
        failures = telemetry.SINK_FAILURES._value.get()
        sink = Sink(ch, bootstrap, CONVERTERS, TABLE_SCHEMAS, poll_ms=50, retry_max_s=0.3)
        await sink.start()
        await _until(lambda: telemetry.SINK_FAILURES._value.get() >= failures + 3, "the sink did not retry")
        assert load_positions(real, topics) == {}  # nothing acknowledged while down
        await sink.stop()  # the process dies during the outage ...

        sink = Sink(ch, bootstrap, CONVERTERS, TABLE_SCHEMAS, poll_ms=50, retry_max_s=0.3)
        await sink.start()  # ... and restarts, still down
        await asyncio.sleep(0.5)
        ch.down = False  # ClickHouse is back
        await _until(lambda: sunk_counts(real.query, prefix, g.cohort)["events"] == g.unique_events, "events lost")
        await _until(lambda: sink.caught_up.is_set(), "never caught up")
        await sink.stop()

        # a third start resumes from the stored positions and writes nothing new
        before = real.query("SELECT count() AS n FROM events")[0]["n"]
        positions = load_positions(real, topics)
        assert sum(positions.values()) >= len(g.deliveries)
        sink = Sink(ch, bootstrap, CONVERTERS, TABLE_SCHEMAS, poll_ms=50)
        await sink.start()
        await _until(lambda: sink.caught_up.is_set(), "never caught up after restart")
        await sink.stop()
        assert real.query("SELECT count() AS n FROM events")[0]["n"] == before

    try:
        asyncio.run(scenario())
        counts = sunk_counts(real.query, prefix, g.cohort)
        assert counts == {"events": g.unique_events, "enrolments": 6, "withdrawals": len(g.withdrawals),
                          "cohorts": 1, "ticks": counts["ticks"], "latest_tick_ms": g.now.timestamp() * 1000}
    finally:
        real.close()
