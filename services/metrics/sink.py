"""The ClickHouse sink: Kafka topics → ClickHouse tables, in batches, idempotent, nothing lost.

Generic: it is given `{topic: converter}` (see `rows.py`) and the tables' Arrow schemas. It consumes
every partition of its topics WITHOUT a consumer group and keeps its read position in ClickHouse
(`sink_offsets`), written only AFTER the batch's rows were written. So:

* ClickHouse down → the write is retried with exponential back-off; nothing is fetched further and no
  position is stored; when it comes back the same batch is written and the sink goes on.
* process killed between a write and its position → the batch is read and written again on restart;
  ReplacingMergeTree tables and read-time de-duplication make the second write a no-op in every number.
* rebuild = empty the tables and the positions, start again from offset 0.

No group join (slow on tansu) and no end-offset query (wrong on tansu) is needed.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Mapping
from datetime import datetime, timezone

import pyarrow as pa
from aiokafka import AIOKafkaConsumer, TopicPartition

from contracts.clock import ClockTick
from contracts.erasure import MemberErased
from contracts.topics import CLOCK_TICKS, MEMBER_ERASURES
from services.common.kafka_security import aiokafka_options
from services.common.lag import LagReporter
from services.common.logging import log
from services.common.tasks import cancel_and_wait
from services.common.ticks import CountedTickGate, Tick, Verdict, kafka_time

from . import telemetry
from .clickhouse import ClickHouse, ClickHouseError
from .erasure import ERASURE_TABLE, Pseudonyms, rekey_member, rekey_targets
from .rows import Converter, InvalidRecord
from .schema import OFFSETS_SCHEMA


def load_positions(ch: ClickHouse, topics: list[str]) -> dict[tuple[str, int], int]:
    rows = ch.query("SELECT topic, partition, max(next_offset) AS next_offset FROM sink_offsets "
                    "WHERE has({topics:Array(String)}, topic) GROUP BY topic, partition", {"topics": topics})
    return {(r["topic"], r["partition"]): r["next_offset"] for r in rows}


def load_latest_ticks(ch: ClickHouse) -> dict[int, datetime]:
    """Per partition, the latest tick stored: the sink writes only ticks its gate applied, so this is
    the gate's state after a restart."""
    rows = ch.query("SELECT kafka_partition AS partition, toUnixTimestamp64Milli(max(now)) AS ms "
                    "FROM clock_ticks GROUP BY kafka_partition")
    return {r["partition"]: datetime.fromtimestamp(r["ms"] / 1000, tz=timezone.utc) for r in rows}


class Sink:
    def __init__(self, ch: ClickHouse, bootstrap: str, converters: Mapping[str, Converter],
                 schemas: Mapping[str, pa.Schema], batch_max: int = 20_000, poll_ms: int = 200,
                 retry_max_s: float = 10.0, clock_mode: str = "simulated") -> None:
        self.ch, self.bootstrap = ch, bootstrap
        self.converters, self.schemas = dict(converters), dict(schemas)
        self.batch_max, self.poll_ms, self.retry_max_s = batch_max, poll_ms, retry_max_s
        self.positions: dict[tuple[str, int], int] = {}
        self.caught_up = asyncio.Event()  # set once a poll returns nothing new (for readiness)
        self.written = asyncio.Event()  # pulsed after each successful batch (tests, freshness bench)
        self.batches = 0
        self.pseudonyms = Pseudonyms()  # erased members of this process (docs/erasure.md); never stored
        self.last_write_s: float | None = None   # time.time() of the last batch written
        self.latest_tick_s: float | None = None  # the latest clock.tick's `now`, as a POSIX time
        self._task: asyncio.Task | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self.lag = LagReporter("metrics", "sink")  # log end − stored position (docs/scale.md, "Lag")
        # "Today" in every number is the latest stored tick: only ticks the gate applies are stored, so
        # a duplicate, backwards or future tick changes no number (docs/clock.md).
        self.tick_gate = CountedTickGate.for_service("metrics_sink", clock_mode)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="clickhouse-sink")
        telemetry.SINK_RUNNING.set(1)
        self.tick_gate.announce()
        started = time.time()
        telemetry.SINK_SINCE_WRITE.set_function(lambda: time.time() - (self.last_write_s or started))
        telemetry.TICK_AGE.set_function(lambda: time.time() - self.latest_tick_s if self.latest_tick_s else 0.0)

    async def stop(self) -> None:
        telemetry.SINK_RUNNING.set(0)
        telemetry.SINK_SINCE_WRITE.set_function(lambda: 0.0)
        telemetry.TICK_AGE.set_function(lambda: 0.0)
        await cancel_and_wait(self._task)
        if self._consumer:
            await self._consumer.stop()

    async def _assign(self) -> AIOKafkaConsumer:
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, group_id=None, enable_auto_commit=False,
                                    auto_offset_reset="earliest", max_partition_fetch_bytes=4 * 1024 * 1024,
                                    **aiokafka_options())
        await consumer.start()
        self._consumer = consumer
        topics = list(self.converters)
        partitions: list[TopicPartition] = []
        for topic in topics:
            while not (ids := consumer.partitions_for_topic(topic)):
                await consumer._client.force_metadata_update()  # aiokafka has no public metadata wait
                await asyncio.sleep(0.2)
            partitions += [TopicPartition(topic, p) for p in sorted(ids)]
        consumer.assign(partitions)
        self.positions = await asyncio.to_thread(load_positions, self.ch, topics)
        if CLOCK_TICKS.name in self.converters:
            for partition, latest in (await asyncio.to_thread(load_latest_ticks, self.ch)).items():
                self.tick_gate.seed(partition, latest)
        await self._load_erased([tp for tp in partitions if tp.topic == MEMBER_ERASURES.name])
        for tp in partitions:
            start = self.positions.get((tp.topic, tp.partition), 0)
            self.positions[(tp.topic, tp.partition)] = start
            consumer.seek(tp, start)
        self._publish_lag(consumer)
        log.info("sink_assigned", partitions=len(partitions), resumed=sum(1 for v in self.positions.values() if v))
        return consumer

    async def _load_erased(self, partitions: list[TopicPartition]) -> None:
        """Members erased before the stored positions (docs/erasure.md, "The sink after a restart"): the
        pseudonyms of the previous process are gone with it (never recorded), so each such member gets a
        fresh one here, before any row is read; a late row of the member (accepted before the erasure,
        sunk only now) is then stored under it and never under the id. Reads `member.erasures` from its
        start up to the sink's own positions (no end-offset query: those are wrong on tansu)."""
        wanted = {tp: self.positions.get((tp.topic, tp.partition), 0) for tp in partitions
                  if self.positions.get((tp.topic, tp.partition), 0) > 0}
        if not wanted:
            return
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, group_id=None, enable_auto_commit=False,
                                    auto_offset_reset="earliest", **aiokafka_options())
        await consumer.start()
        loaded = idle = 0
        try:
            consumer.assign(list(wanted))
            await consumer.seek_to_beginning(*wanted)
            while any([await consumer.position(tp) < end for tp, end in wanted.items()]):
                batches = await consumer.getmany(timeout_ms=self.poll_ms)
                idle = 0 if any(batches.values()) else idle + 1
                if idle > 100:  # records below a stored position vanished (retention): keep what was read
                    log.warning("sink_erasures_incomplete", loaded=loaded)
                    break
                for tp, records in batches.items():
                    for record in records:
                        if record.offset >= wanted[tp]:
                            continue
                        try:
                            self.pseudonyms.assign(MemberErased.model_validate_json(record.value or b"").member_id)
                            loaded += 1
                        except ValueError:  # counted as invalid when it was first read
                            continue
        finally:
            await consumer.stop()
        log.info("sink_erasures_loaded", erased=loaded)  # a count: never an id

    async def _run(self) -> None:
        delay = 0.2
        while True:
            try:
                await self._consume()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # broker or ClickHouse trouble at start-up: start over, nothing skipped
                log.warning("sink_restart", error=repr(exc)[:500], retry_in_s=delay)
                if self._consumer:
                    await self._consumer.stop()
                    self._consumer = None
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.retry_max_s)

    async def _consume(self) -> None:
        consumer = await self._assign()
        while True:
            if not await self.step(consumer):
                self.caught_up.set()

    async def run_until_idle(self, idle_s: float = 2.0, on_batch=None) -> None:
        """Consume until nothing new arrives for `idle_s` (the rebuild command; end offsets are not trusted)."""
        consumer = await self._assign()
        loop = asyncio.get_running_loop()
        last = loop.time()
        while loop.time() - last < idle_s:
            if await self.step(consumer):
                last = loop.time()
                if on_batch:
                    on_batch(self)

    async def step(self, consumer: AIOKafkaConsumer) -> bool:
        """Fetch one batch, write it (retrying until ClickHouse takes it), then store the positions."""
        batches = await consumer.getmany(timeout_ms=self.poll_ms, max_records=self.batch_max)
        self._record_lag(consumer)
        if not any(batches.values()):
            return False
        tables: dict[str, list[dict]] = defaultdict(list)
        ends: dict[tuple[str, int], int] = {}
        for tp, records in batches.items():
            convert = self.converters[tp.topic]
            for record in (self._applied_ticks(tp.partition, records) if tp.topic == CLOCK_TICKS.name else records):
                try:
                    for table, row in convert(record.value, tp.partition, record.offset):
                        tables[table].append(row)
                except InvalidRecord as exc:
                    telemetry.SINK_INVALID.labels(tp.topic).inc()
                    log.warning("sink_invalid_record", topic=tp.topic, partition=tp.partition,
                                offset=record.offset, error=str(exc)[:500])
            if records:
                ends[(tp.topic, tp.partition)] = records[-1].offset + 1
        erased = [row["member_id"] for row in tables.pop(ERASURE_TABLE, [])]
        for member in erased:
            self.pseudonyms.assign(member)
        if self.pseudonyms:  # the batch's rows of erased members are stored under their pseudonym
            tables = {t: [self.pseudonyms.rewrite(t, row) for row in rows] for t, rows in tables.items()}
        await self._write_with_retry(tables, ends, erased)
        self.positions.update(ends)
        self._publish_lag(consumer)
        self.batches += 1
        telemetry.SINK_BATCH_SIZE.set(sum(len(r) for r in batches.values()))
        telemetry.SINK_LAST_WRITE.set_to_current_time()
        self.last_write_s = time.time()
        ticks = [row["now"] for row in tables.get("clock_ticks", ())]
        if ticks:
            self.latest_tick_s = max(self.latest_tick_s or 0.0, max(ticks).timestamp())
        self.written.set()
        self.written = asyncio.Event()
        return True

    def _publish_lag(self, consumer: AIOKafkaConsumer) -> None:
        for (topic, partition), position in self.positions.items():
            self.lag.record_applied(topic, partition, position)
        ends = {}
        for tp in consumer.assignment():
            highwater = consumer.highwater(tp)  # from the last fetch response: no extra request
            if highwater is not None:
                ends[(tp.topic, tp.partition)] = highwater
        self.lag.record_log_end(ends)

    def _applied_ticks(self, partition: int, records: list) -> list:
        """The records of a fetched batch worth storing: ticks the gate applies (the newest of those
        waiting), plus unreadable ones for the converter to count as invalid."""
        ticks: list[tuple[object, Tick]] = []
        keep = []
        for record in records:
            try:
                ticks.append(
                    (record, Tick(ClockTick.model_validate_json(record.value).now, kafka_time(record.timestamp)))
                )
            except ValueError:  # pydantic's ValidationError included
                keep.append(record)
        verdicts = self.tick_gate.admit_batch(partition, [tick for _, tick in ticks])
        return keep + [record for (record, _), verdict in zip(ticks, verdicts) if verdict is Verdict.APPLY]

    def _record_lag(self, consumer: AIOKafkaConsumer) -> None:
        """Log end (the high watermark of the last fetch: no extra request) minus the sink's position."""
        behind: dict[str, int] = defaultdict(int)
        for (topic, partition), position in self.positions.items():
            end = consumer.highwater(TopicPartition(topic, partition))
            if end is not None:
                behind[topic] += max(end - position, 0)
        for topic, records in behind.items():
            telemetry.SINK_LAG.labels(topic).set(records)

    async def _write_with_retry(self, tables: dict[str, list[dict]], ends: dict[tuple[str, int], int],
                                erased: list[str] = ()) -> None:
        delay = 0.1
        while True:
            try:
                await asyncio.to_thread(self.write, tables, ends, erased)
                return
            except ClickHouseError as exc:
                telemetry.SINK_FAILURES.inc()
                log.warning("sink_write_failed", error=str(exc)[:500], retry_in_s=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.retry_max_s)

    def write(self, tables: dict[str, list[dict]], ends: dict[tuple[str, int], int], erased: list[str] = ()) -> None:
        """Rows first, then the batch's erasures (re-keying rows of earlier batches), positions last: a
        crash in between re-writes rows and re-applies erasures (idempotent), never skips them."""
        for table, rows in tables.items():
            schema = self.schemas[table]
            self.ch.insert(table, {name: [row[name] for row in rows] for name in schema.names}, schema)
            telemetry.SINK_ROWS.labels(table).inc(len(rows))
        for member in erased:
            moved = rekey_member(self.ch, member, self.pseudonyms.assign(member), self.pseudonyms.id_for)
            telemetry.SINK_ERASURES.inc()
            log.info("member_erased", rows_rekeyed=moved)  # never the id: the log would keep it
        fresh = self.pseudonyms.take_fresh()
        if fresh:  # ids derived from an erased member's id were replaced in this batch: so in the audit trail
            rekey_targets(self.ch, fresh)
        if ends:
            now = datetime.now(timezone.utc)
            self.ch.insert("sink_offsets", {
                "topic": [t for t, _ in ends], "partition": [p for _, p in ends],
                "next_offset": list(ends.values()), "written_at": [now] * len(ends),
            }, OFFSETS_SCHEMA)
