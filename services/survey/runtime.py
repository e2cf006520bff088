"""The survey service's moving parts around the pure book: rebuilding it from the `surveys` log,
applying member events and clock ticks (publish first, fold after the broker's acknowledgement),
and taking responses.

State recovery does not trust end offsets (tansu answers ListOffsets with the base offset of the
last batch + 1): the book is rebuilt by reading `surveys` from offset 0 past the *reported* end
offsets and then until the log stays quiet for `rebuild_idle_s`. Until then the processor does not
act and `/readyz` answers 503. After that the same consumer keeps tailing `surveys`, so responses
taken by another replica and steps published by another worker reach this book too.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from contextlib import suppress
from datetime import datetime, timezone
from typing import Any
from uuid import UUID

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import TypeAdapter, ValidationError

from contracts.clock import ClockTick
from contracts.members import MemberEnrolled, MemberWithdrawn
from contracts.surveys import (
    SurveyEvent, SurveyExpired, SurveyInvited, SurveyReminded, SurveyResponded, SurveyScored,
)
from contracts.topics import NOTIFICATIONS_OUTBOUND, SURVEYS
from services.common.kafka import BrokerUnavailable, Publisher, Record, tail_from_start
from services.common.logging import log
from services.common.tasks import cancel_and_wait
from services.common.ticks import CountedTickGate, Tick, Verdict

from . import telemetry
from .settings import SurveySettings
from .state import SurveyBook, SurveyStepEvent, notification_for

survey_event_adapter: TypeAdapter[Any] = TypeAdapter(SurveyEvent)


def records_for(events: Sequence[SurveyStepEvent]) -> list[Record]:
    """The `surveys` records of `events` plus a `notification.requested` for invitations and reminders."""
    records = []
    for event in events:
        records.append(Record(SURVEYS.name, event.member_id.encode(), event.model_dump_json().encode()))
        note = notification_for(event)
        if note is not None:
            records.append(Record(NOTIFICATIONS_OUTBOUND.name, note.recipient.encode(), note.model_dump_json().encode()))
    return records


def count_steps(events: Sequence[SurveyStepEvent]) -> None:
    for event in events:
        step = event.type.removeprefix("survey.")
        telemetry.STEPS.labels(step, event.instrument).inc()
        if isinstance(event, SurveyInvited):
            telemetry.INVITATIONS.labels(event.instrument).inc()
        elif isinstance(event, SurveyReminded):
            telemetry.REMINDERS.labels(event.instrument).inc()
        elif isinstance(event, SurveyExpired):
            telemetry.EXPIRIES.labels(event.instrument).inc()
        elif isinstance(event, SurveyResponded):
            telemetry.RESPONSES.labels(event.instrument).inc()


class SurveyRuntime:
    def __init__(self, settings: SurveySettings) -> None:
        self.settings = settings
        self.book = SurveyBook(plan=settings.plan())
        self.rebuilt = asyncio.Event()
        self.publisher: Publisher | None = None
        self._tail: asyncio.Task | None = None
        self._stopping = False
        self._locks: dict[UUID, asyncio.Lock] = {}
        self.rebuild_seconds: float | None = None
        self.ticks_done: dict[int, datetime] = {}  # partition → latest tick fully handled
        # The members and clock agents run concurrently; decisions (compute → publish → fold) are
        # serialised so a withdrawal and a tick never decide on the same open invitation at once.
        self._deciding = asyncio.Lock()
        # Clock: only a tick later than the latest applied on its partition decides (docs/clock.md).
        self.tick_gate = CountedTickGate.for_service("survey", settings.clock_mode)

    # --- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        self.publisher = await asyncio.to_thread(
            Publisher, self.settings.kafka_bootstrap, self.settings.delivery_timeout_ms, "survey")
        self._tail = asyncio.create_task(self._tail_surveys(), name="survey-log-tail")
        self.tick_gate.announce()

    async def stop(self) -> None:
        self._stopping = True
        with suppress(Exception):  # a tail that failed must not stop the shutdown
            await cancel_and_wait(self._tail)
        if self.publisher is not None:
            await asyncio.to_thread(self.publisher.close)

    async def _tail_surveys(self) -> None:
        """Fold `surveys` from offset 0 forever; set `rebuilt` once past the reported end and quiet."""
        await tail_from_start(self.settings.kafka_bootstrap, "survey-log-tail", self._fold_forever,
                              lambda: self._stopping)

    async def _fold_forever(self, consumer: AIOKafkaConsumer) -> None:
        started = time.monotonic()
        await consumer.topics()
        partitions = sorted(consumer.partitions_for_topic(SURVEYS.name) or ())
        if not partitions:  # not created yet (ENSURE_TOPICS=false and no KafkaTopic): retry, never "ready"
            raise RuntimeError(f"topic {SURVEYS.name} does not exist")
        tps = [TopicPartition(SURVEYS.name, p) for p in partitions]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        reported_end = await consumer.end_offsets(tps)
        last_new, past_end_since = time.monotonic(), None
        while True:
            batches = await consumer.getmany(timeout_ms=200, max_records=5000)
            for tp, records in batches.items():
                for record in records:
                    self._fold_record(tp.partition, record.value)
            if batches:
                last_new = time.monotonic()
            if not self.rebuilt.is_set():
                positions = {tp: await consumer.position(tp) for tp in tps}
                past_end = all(positions[tp] >= reported_end[tp] for tp in tps)
                if past_end and past_end_since is None:
                    past_end_since = time.monotonic()
                # Quiet for rebuild_idle_s once past the reported end — the rest of tansu's last batch
                # has arrived by then. Under steady traffic the log is never quiet: then 10 idle
                # periods past the reported end are enough (fetches return whole batches).
                quiet = time.monotonic() - last_new >= self.settings.rebuild_idle_s
                if past_end and (quiet or time.monotonic() - past_end_since >= 10 * self.settings.rebuild_idle_s):
                    self.rebuild_seconds = time.monotonic() - started
                    telemetry.OPEN.set(len(self.book.open_ids))
                    log.info("survey_book_rebuilt", invitations=len(self.book.invitations),
                             open=len(self.book.open_ids), seconds=round(self.rebuild_seconds, 3))
                    self.rebuilt.set()

    def _fold_record(self, partition: int, value: bytes | None) -> None:
        try:
            event = survey_event_adapter.validate_json(value or b"")
        except ValidationError:
            telemetry.REPLAYED.labels("invalid").inc()
            log.warning("survey_log_record_invalid", partition=partition)
            return
        applied = self.book.apply(event, partition)
        telemetry.REPLAYED.labels("applied" if applied else "known").inc()

    # --- publishing ----------------------------------------------------------------------------

    async def _publish(self, records: list[Record], retry: bool) -> None:
        assert self.publisher is not None, "runtime not started"
        delay = 0.2
        while True:
            try:
                await self.publisher.publish(records)
                return
            except BrokerUnavailable as exc:
                if not retry or self._stopping:
                    raise
                log.warning("survey_publish_retry", error=str(exc), delay_s=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def commit_steps(self, events: Sequence[SurveyStepEvent], partition: int | None) -> list[SurveyStepEvent]:
        """Publish (acks=all, retried until the broker takes them), then fold into the book."""
        if not events:
            return []
        await self._publish(records_for(events), retry=True)
        # The log tail may fold an acknowledged event before this line does (apply is idempotent);
        # either way this process published it, so it counts and is returned.
        self.book.apply_all(events, partition)
        count_steps(events)
        telemetry.OPEN.set(len(self.book.open_ids))
        return list(events)

    # --- stream handlers (called by the faust agents, one record at a time) ---------------------

    async def on_member_record(self, partition: int, value: bytes) -> list[SurveyStepEvent]:
        await self.rebuilt.wait()
        try:
            data = orjson.loads(value)
            kind = data.get("type") if isinstance(data, dict) else None
            if kind == "member.enrolled":
                enrolled = MemberEnrolled.model_validate(data)
            elif kind == "member.withdrawn":
                withdrawn = MemberWithdrawn.model_validate(data)
            else:
                return []  # cohort.configured and future types: not the survey's business
        except (orjson.JSONDecodeError, ValidationError) as exc:
            log.warning("member_record_invalid", partition=partition, error=str(exc)[:300])
            return []
        async with self._deciding:
            if kind == "member.enrolled":
                events = self.book.on_enrolled(enrolled, partition, commit=False)
            else:
                events = self.book.on_withdrawn(withdrawn, partition, commit=False)
            return await self.commit_steps(events, partition)

    async def on_tick_record(self, partition: int, value: bytes,
                             written_at: datetime | None = None) -> list[SurveyStepEvent]:
        await self.rebuilt.wait()
        try:
            tick = ClockTick.model_validate_json(value)
        except ValidationError as exc:
            log.warning("clock_tick_invalid", partition=partition, error=str(exc)[:300])
            return []
        if self.tick_gate.admit(partition, Tick(tick.now, written_at)) is not Verdict.APPLY:
            return []  # duplicate, backwards or from the future: counted by the gate, decides nothing
        async with self._deciding:
            steps = await self.commit_steps(self.book.on_tick(tick.now, partition, commit=False), partition)
        if partition not in self.ticks_done or tick.now > self.ticks_done[partition]:
            self.ticks_done[partition] = tick.now
        return steps

    # --- responses -----------------------------------------------------------------------------

    def now(self) -> datetime:
        """The service's "now" for responses: the latest clock.tick seen (time is an event); the
        wall clock only before any tick arrived."""
        return self.book.now or datetime.now(timezone.utc)

    def lock(self, invitation: UUID) -> asyncio.Lock:
        return self._locks.setdefault(invitation, asyncio.Lock())

    async def record_response(self, responded: SurveyResponded, scored: SurveyScored | None) -> None:
        events: list[SurveyStepEvent] = [responded] + ([scored] if scored else [])
        await self._publish(records_for(events), retry=False)
        self.book.apply_all(events)
        count_steps(events)
        telemetry.OPEN.set(len(self.book.open_ids))
