"""Keeps ingest's `Directory` current: tails `members` and `clock.ticks` from offset 0 (aiokafka,
no consumer group: every replica reads every partition) for as long as the process runs.

Ready once caught up: every partition's position has reached the end offset reported at start and
the log stayed quiet for `idle_s` (tansu reports the end one batch short, so the quiet period is what
proves the last batch was read). Until then ingest answers 503 to the requests that need it.
"""

from __future__ import annotations

import asyncio
import time

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import ValidationError

from contracts.clock import ClockTick
from contracts.members import parse_member_record
from contracts.topics import CLOCK_TICKS, MEMBERS
from services.common.kafka import tail_from_start
from services.common.logging import log
from services.common.tasks import cancel_and_wait

from .directory import Directory
from .telemetry import DIRECTORY_MEMBERS, DIRECTORY_RECORDS

TOPICS = (MEMBERS.name, CLOCK_TICKS.name)


class DirectoryFeed:
    def __init__(self, bootstrap: str, directory: Directory, idle_s: float = 0.5) -> None:
        self.bootstrap, self.directory, self.idle_s = bootstrap, directory, idle_s
        self.ready = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._stopping = False

    def start(self) -> None:
        self._task = asyncio.create_task(
            tail_from_start(self.bootstrap, "ingest-directory", self._follow, lambda: self._stopping),
            name="ingest-directory")

    async def stop(self) -> None:
        self._stopping = True
        await cancel_and_wait(self._task)

    def fold(self, topic: str, value: bytes | None) -> None:
        try:
            if topic == CLOCK_TICKS.name:
                self.directory.fold_tick(ClockTick.model_validate_json(value or b"").now)
            else:
                self.directory.fold(parse_member_record(value or b""))
            DIRECTORY_RECORDS.labels(topic, "folded").inc()
        except (ValidationError, orjson.JSONDecodeError, ValueError) as exc:
            DIRECTORY_RECORDS.labels(topic, "invalid").inc()
            # The error's location and kind only: a record's values may be member data.
            where = exc.errors(include_input=False)[0]["loc"] if isinstance(exc, ValidationError) else ()
            log.warning("directory_record_invalid", topic=topic, error=type(exc).__name__, loc=list(where))

    async def _follow(self, consumer: AIOKafkaConsumer) -> None:
        await consumer.topics()
        partitions = [TopicPartition(topic, p) for topic in TOPICS
                      for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        reported_end = await consumer.end_offsets(partitions)
        started = last_new = time.monotonic()
        while True:
            batches = await consumer.getmany(timeout_ms=200, max_records=5000)
            for tp, records in batches.items():
                for record in records:
                    self.fold(tp.topic, record.value)
            if batches:
                last_new = time.monotonic()
                DIRECTORY_MEMBERS.set(len(self.directory.members))
            if not self.ready.is_set() and time.monotonic() - last_new >= self.idle_s:
                positions = [await consumer.position(tp) for tp in partitions]
                if all(p >= reported_end[tp] for p, tp in zip(positions, partitions)):
                    log.info("ingest_directory_ready", members=len(self.directory.members),
                             seconds=round(time.monotonic() - started, 3))
                    self.ready.set()
