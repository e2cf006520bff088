"""The survey service's moving parts around the pure book: rebuilding it from the `surveys` log,
applying member events and clock ticks (publish first, fold after the broker's acknowledgement),
and taking responses.

The book is rebuilt from `surveys` and `members` by the shared log-state runtime
(services.common.logstate: past tansu's short end offsets, ready under steady traffic too): `surveys`
holds the schedule, `members` every member's timeline (first enrolment, withdrawal dates, zone history:
docs/timeline.md). Until then the processor does not act and `/readyz` answers 503. After that the
same consumer keeps tailing both, so responses taken by another replica and steps published by another
worker reach this book too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from pydantic import TypeAdapter, ValidationError

from contracts.clock import ClockTick
from contracts.erasure import MemberErased, MemberKey
from contracts.members import (
    CohortConfigured,
    MemberEnrolled,
    MemberTimezoneChanged,
    MemberWithdrawn,
    parse_member_record,
)
from contracts.surveys import (
    SurveyEvent,
    SurveyExpired,
    SurveyInvited,
    SurveyReminded,
    SurveyResponded,
    SurveyScored,
)
from contracts.topics import MEMBER_ERASURES, MEMBER_KEYS, MEMBERS, NOTIFICATIONS_OUTBOUND, SURVEYS
from services.common.dedup import SeenIds
from services.common.kafka import Record
from services.common.logging import error_summary, log
from services.common.logstate import LogStateRuntime
from services.common.member_keys import KeyRing
from services.common.ticks import CountedTickGate, Tick, Verdict

from . import snapshot, telemetry
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
            records.append(
                Record(NOTIFICATIONS_OUTBOUND.name, note.recipient.encode(), note.model_dump_json().encode())
            )
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


class SurveyRuntime(LogStateRuntime):
    """The book, rebuilt from and tailing `surveys` (services.common.logstate), and the decisions around it."""

    def __init__(self, settings: SurveySettings) -> None:
        super().__init__("survey", (SURVEYS.name, MEMBERS.name, MEMBER_KEYS.name, MEMBER_ERASURES.name),
                         settings.kafka_bootstrap, settings.delivery_timeout_ms, settings.rebuild_idle_s)
        self.settings = settings
        self.book = SurveyBook(plan=settings.plan(), seen=SeenIds(settings.dedup_window))
        self.keys = KeyRing()  # members' data keys: free-text answers are sealed and opened with them
        self.ticks_done: dict[int, datetime] = {}  # partition → latest tick fully handled
        # The members and clock agents run concurrently; decisions (compute → publish → fold) are
        # serialised so a withdrawal and a tick never decide on the same open invitation at once.
        self._deciding = asyncio.Lock()
        # Clock: only a tick later than the latest applied on its partition decides (docs/clock.md).
        self.tick_gate = CountedTickGate.for_service("survey", settings.clock_mode)
        self.tick_gate.announce()
        self.snapshotter = snapshot.snapshotter(settings, self.book)  # bounded restarts (docs/scale.md)

    # --- the log-state hooks -------------------------------------------------------------------

    def on_rebuilt(self) -> None:
        telemetry.OPEN.set(len(self.book.open_ids))
        log.info("survey_book_rebuilt", invitations=len(self.book.invitations),
                 open=len(self.book.open_ids), seconds=round(self.rebuild_seconds or 0.0, 3))

    def fold(self, topic: str, partition: int, value: bytes | None) -> None:
        if topic == MEMBERS.name:
            self.fold_member(partition, value)
            return
        if topic in (MEMBER_KEYS.name, MEMBER_ERASURES.name):
            self.fold_erasure(topic, partition, value)
            return
        try:
            event = survey_event_adapter.validate_json(value or b"")
        except ValidationError:
            telemetry.REPLAYED.labels("invalid").inc()
            log.warning("survey_log_record_invalid", partition=partition)
            return
        applied = self.book.apply(event, partition)
        telemetry.REPLAYED.labels("applied" if applied else "known").inc()

    def fold_erasure(self, topic: str, partition: int, value: bytes | None) -> None:
        """A data key, or an erasure: the key is destroyed and the member re-keyed (docs/erasure.md)."""
        try:
            if topic == MEMBER_KEYS.name:
                if value is not None:  # a tombstone carries no member id here; member.erased destroys the key
                    self.keys.fold(MemberKey.model_validate_json(value).member_id, value)
                return
            erased = MemberErased.model_validate_json(value or b"").member_id
        except ValidationError:
            log.warning("survey_log_record_invalid", topic=topic, partition=partition)
            return
        self.keys.destroy(erased)
        self.book.erase(erased)
        telemetry.OPEN.set(len(self.book.open_ids))

    def fold_member(self, partition: int, value: bytes | None) -> None:
        """A members record into the member's timeline (no decision: the stream agent decides)."""
        try:
            record = parse_member_record(value or b"")
        except (ValidationError, ValueError):
            log.warning("member_record_invalid", partition=partition)
            return
        if not isinstance(record, CohortConfigured):
            self.book.fold_member(record)

    # --- publishing ----------------------------------------------------------------------------

    async def commit_steps(self, events: Sequence[SurveyStepEvent], partition: int | None) -> list[SurveyStepEvent]:
        """Publish (acks=all, retried until the broker takes them), then fold into the book."""
        if not events:
            return []
        await self.publish(records_for(events), retry=True)
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
            record = parse_member_record(value)
        except ValidationError as exc:
            log.warning("member_record_invalid", partition=partition, error=error_summary(exc))
            return []
        if isinstance(record, MemberTimezoneChanged):
            self.book.fold_member(record)  # re-times the member's open invitations; nothing to decide
            return []
        if not isinstance(record, MemberEnrolled | MemberWithdrawn):
            return []  # cohort settings: not the survey's business
        async with self._deciding:
            if isinstance(record, MemberEnrolled):
                events = self.book.on_enrolled(record, partition, commit=False)
            else:
                events = self.book.on_withdrawn(record, partition, commit=False)
            return await self.commit_steps(events, partition)

    async def on_tick_record(self, partition: int, value: bytes,
                             written_at: datetime | None = None) -> list[SurveyStepEvent]:
        await self.rebuilt.wait()
        try:
            tick = ClockTick.model_validate_json(value)
        except ValidationError as exc:
            log.warning("clock_tick_invalid", partition=partition, error=error_summary(exc))
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

    async def record_response(self, responded: SurveyResponded, scored: SurveyScored | None) -> None:
        events: list[SurveyStepEvent] = [responded] + ([scored] if scored else [])
        await self.publish(records_for(events), retry=False)
        self.book.apply_all(events)
        count_steps(events)
        telemetry.OPEN.set(len(self.book.open_ids))
