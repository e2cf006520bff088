"""The metrics sink against a real ClickHouse server that is killed mid-stream and restarted: it
stops storing positions, retries with back-off, and resumes with nothing lost (clickhouse-driver path)."""

from __future__ import annotations

import asyncio
import json
import time
from uuid import uuid4

import pyarrow as pa
from prometheus_client import REGISTRY

from contracts.topics import ENGAGEMENT_EVENTS
from services.common.kafka import Publisher, Record
from services.metrics.clickhouse import connect
from services.metrics.sink import Sink

from .clickhouse_server import ClickHouseServer

# Tables Debian's ClickHouse 18.16 accepts (DateTime instead of DateTime64), same shape as the service's.
TABLES = [
    """CREATE TABLE IF NOT EXISTS events (event_id String, member_id String, kafka_partition UInt16,
       kafka_offset UInt64) ENGINE = ReplacingMergeTree(kafka_offset) ORDER BY event_id""",
    """CREATE TABLE IF NOT EXISTS sink_offsets (topic String, partition UInt16, next_offset UInt64,
       written_at DateTime) ENGINE = ReplacingMergeTree(next_offset) ORDER BY (topic, partition)""",
]
EVENTS_SCHEMA = pa.schema([pa.field("event_id", pa.string()), pa.field("member_id", pa.string()),
                           pa.field("kafka_partition", pa.uint16()), pa.field("kafka_offset", pa.uint64())])


def event_rows(value: bytes, partition: int, offset: int):
    body = json.loads(value)
    return [("events", {"event_id": body["event_id"], "member_id": body["member_id"],
                        "kafka_partition": partition, "kafka_offset": offset})]


async def publish(bootstrap: str, n: int) -> set[str]:
    events = [{"event_id": str(uuid4()), "member_id": f"m-{i % 37}"} for i in range(n)]
    publisher = Publisher(bootstrap)
    await publisher.publish([Record(ENGAGEMENT_EVENTS.name, e["member_id"].encode(), json.dumps(e).encode())
                             for e in events])
    publisher.close()
    return {e["event_id"] for e in events}


def write_failures() -> float:
    return REGISTRY.get_sample_value("metrics_sink_write_failures_total") or 0.0


def distinct_events(ch) -> int:
    return ch.query("SELECT uniqExact(event_id) AS n FROM events")[0]["n"]


async def wait_for(predicate, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not await asyncio.to_thread(predicate):
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.2)


async def test_sink_survives_a_clickhouse_server_outage(own_broker, tmp_path, fault_report):
    _, bootstrap = own_broker
    server = ClickHouseServer(tmp_path / "clickhouse").start()
    ch = connect(f"clickhouse://127.0.0.1:{server.port}/faults")
    for ddl in TABLES:
        ch.command(ddl)
    sink = Sink(ch, bootstrap, {ENGAGEMENT_EVENTS.name: event_rows}, {"events": EVENTS_SCHEMA},
                batch_max=300, poll_ms=50, retry_max_s=1.0)
    await sink.start()
    try:
        sent = await publish(bootstrap, 1_500)
        await wait_for(lambda: distinct_events(ch) == 1_500, 60, "first wave written")

        failed_before = write_failures()
        server.kill()  # mid-stream: the next batches cannot be written
        sent |= await publish(bootstrap, 1_500)
        stalled_at = dict(sink.positions)
        # the sink keeps retrying the same batch (three failed writes, with back-off in between)
        await wait_for(lambda: write_failures() >= failed_before + 3, 60, "the sink retries")
        assert sink.positions == stalled_at, "no position may move past unwritten rows"

        server.start()  # same data directory
        await wait_for(lambda: distinct_events(ch) == 3_000, 90, "second wave written after the restart")
        stored = {r["event_id"] for r in ch.query("SELECT event_id FROM events FINAL")}
        assert stored == sent, "nothing lost, nothing foreign"
        assert ch.query("SELECT count() AS n FROM events FINAL")[0]["n"] == 3_000, "re-written rows collapse"
        positions = ch.query("SELECT partition, max(next_offset) AS o FROM sink_offsets GROUP BY partition")
        assert sum(r["o"] for r in positions) == 3_000, "stored positions end exactly at the written rows"
    finally:
        await sink.stop()
        server.kill()
    fault_report.add("ClickHouse server outage (18.16)", faults_injected=1, inputs_tried=3_000, events_lost=0)
