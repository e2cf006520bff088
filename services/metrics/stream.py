"""faust agents: engagement.events + members + clock.ticks → member-day state (`state.py`),
published to `engagement.daily` (compacted, key member|day) and `engagement.events.dlq`.

Recovery: the state is REBUILT BY REPLAYING THE SOURCE TOPICS from offset 0 at every start (each start
joins under a fresh consumer group). faust changelog recovery trusts end offsets, which tansu reports
one batch short, and faust is at-least-once anyway; replaying into idempotent state (events by id,
last-write-wins members) gives exactly the same state, and re-published `engagement.daily` values are
identical for the same key. The published NUMBERS come from ClickHouse, not from this state; a test
cross-checks the two.
"""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import timezone

import faust
from pydantic import ValidationError

from contracts.clock import ClockTick
from contracts.daily import EngagementDay, EventDeadLetter
from contracts.erasure import MemberErased
from contracts.events import parse_recorded_event
from contracts.members import CohortConfigured, MemberEnrolled, MemberWithdrawn, parse_member_record
from contracts.topics import (
    CLOCK_TICKS,
    ENGAGEMENT_DAILY,
    ENGAGEMENT_EVENTS,
    ENGAGEMENT_EVENTS_DLQ,
    MEMBER_ERASURES,
    MEMBERS,
)
from services.common.kafka import Publisher, Record
from services.common.lag import LagReporter, report_faust_lag
from services.common.logging import error_summary, log
from services.common.pseudonyms import new_pseudonym
from services.common.stream import catalogue_topic, make_faust_app
from services.common.ticks import CountedTickGate, Tick, kafka_time
from services.common.waiting import WaitingRoom

from . import snapshot
from .publication import DailyPublication
from .settings import MetricsSettings
from .state import MemberDayBook
from .telemetry import DEAD_LETTERS, EVENT_CONFLICTS, STREAM_EVENTS, WAITING_DROPPED, WAITING_EVENTS


def build_faust_app(settings: MetricsSettings, book: MemberDayBook | None = None) -> faust.App:
    app = make_faust_app(f"{settings.group_id}-{uuid.uuid4().hex[:8]}", settings,
                         stream_buffer_maxsize=32_768, broker_max_poll_records=5_000)
    app.book = book or MemberDayBook(pending=settings.waiting_room())
    drops_reported: Counter[str] = Counter()
    # One acks=all batch per agent batch, sent by one task in order: faust's per-record send costs
    # ~10x more, and awaiting the acknowledgement in the agent stalled the fold.
    app.daily = DailyPublication(lambda: Publisher(settings.kafka_bootstrap, 10_000, "metrics"))
    app.task(app.daily.run)
    dlq = catalogue_topic(app, ENGAGEMENT_EVENTS_DLQ)
    lag = app.lag = LagReporter("metrics", "stream")  # docs/scale.md, "Lag"
    report_faust_lag(app, lag)

    async def publish(days: list[EngagementDay]) -> None:
        await app.daily.put([
            Record(ENGAGEMENT_DAILY.name, f"{d.member_id}|{d.day.isoformat()}".encode(), d.model_dump_json().encode())
            for d in days])

    async def dead_letter(letters: list[EventDeadLetter]) -> None:
        for letter in letters:
            await dlq.send(key=letter.member_id.encode(), value=letter.model_dump_json().encode())
            DEAD_LETTERS.labels(letter.reason).inc()

    @app.agent(catalogue_topic(app, ENGAGEMENT_EVENTS))
    async def events(stream):
        # Batches: a member-day changed by many events of the batch is published once, in its final state.
        async for batch in stream.take_events(2_000, within=0.05):
            parsed = []
            for event in batch:
                try:
                    parsed.append(parse_recorded_event(event.value))
                except ValidationError as exc:
                    log.warning("stream_invalid_event", error=error_summary(exc))
            conflicts_before = app.book.conflicts
            changed = app.book.apply_events(parsed)
            EVENT_CONFLICTS.inc(app.book.conflicts - conflicts_before)
            STREAM_EVENTS.labels(ENGAGEMENT_EVENTS.name).inc(len(parsed))
            await publish(changed)
            for event in batch:  # offsets only grow within a partition: the last one per partition wins
                lag.record_applied(event.message.topic, event.message.partition, event.message.offset + 1)

    def member_change(value: bytes) -> list[EngagementDay] | None:
        try:
            record = parse_member_record(value)
        except ValidationError as exc:
            log.warning("stream_invalid_member_record", error=error_summary(exc))
            return None
        if isinstance(record, MemberEnrolled):
            return app.book.enrol(record)
        if isinstance(record, MemberWithdrawn):
            return app.book.withdraw(record)
        if isinstance(record, CohortConfigured):
            return app.book.configure(record)
        return app.book.change_timezone(record)

    @app.agent(catalogue_topic(app, MEMBERS))
    async def members(stream):
        async for event in stream.events():
            changed = member_change(event.value)
            if changed is not None:
                STREAM_EVENTS.labels(MEMBERS.name).inc()
                await publish(changed)
            lag.record_applied(event.message.topic, event.message.partition, event.message.offset + 1)

    @app.agent(catalogue_topic(app, MEMBER_ERASURES))
    async def erasures(stream):
        # docs/erasure.md: the member's days move to a random pseudonym; their keys on the compacted
        # engagement.daily get tombstones, so compaction removes the id from that topic too.
        async for event in stream.events():
            try:
                member = MemberErased.model_validate_json(event.value).member_id
            except ValidationError as exc:
                log.warning("stream_invalid_erasure", error=error_summary(exc))
                member = None
            if member is not None:
                old_days, renamed = app.book.erase(member, new_pseudonym())
                STREAM_EVENTS.labels(MEMBER_ERASURES.name).inc()
                await app.daily.put([Record(ENGAGEMENT_DAILY.name, f"{member}|{d.isoformat()}".encode(), None)
                                     for d in old_days])
                await publish(renamed)
            lag.record_applied(event.message.topic, event.message.partition, event.message.offset + 1)

    # The state needs no time rule from a tick: it is gated only to be counted like every consumer
    # (clock_ticks_*{consumer="metrics_state"}). Events still waiting for an enrolment are dead-lettered
    # at any valid tick, stale ones included (dead-lettering is once per event and changes no number).
    app.tick_gate = CountedTickGate.for_service("metrics_state", settings.clock_mode)
    app.tick_gate.announce()

    @app.agent(catalogue_topic(app, CLOCK_TICKS))
    async def ticks(stream):
        async for batch in stream.take_events(500, within=0.05):  # a catching-up consumer: newest per partition
            waiting: dict[int, list[Tick]] = {}
            for event in batch:
                try:
                    tick = ClockTick.model_validate_json(event.value)
                except ValidationError:
                    continue
                STREAM_EVENTS.labels(CLOCK_TICKS.name).inc()
                waiting.setdefault(event.message.partition, []).append(
                    Tick(tick.now, kafka_time(event.message.timestamp, scale=1)))
            for partition, ticks_waiting in waiting.items():
                app.tick_gate.admit_batch(partition, ticks_waiting)
                now = ticks_waiting[-1].now.astimezone(timezone.utc)
                await dead_letter(app.book.dead_letters(now))
                app.book.tick(now)  # after dead-lettering: an expired event stays replayable from the DLQ
            report_waiting(app.book.pending, drops_reported)
            # Applied only once the whole batch is decided (unreadable records included: nothing to do).
            for event in batch:
                lag.record_applied(event.message.topic, event.message.partition, event.message.offset + 1)

    snapshot.attach(app, settings)  # bounded restarts: app.snapshots.restore() before the app starts
    return app


def report_waiting(pending: WaitingRoom, reported: Counter[str]) -> None:
    """Export the waiting room's size and its new drops; the log names reasons and counts, no member."""
    WAITING_EVENTS.set(len(pending))
    for reason, count in pending.dropped.items():
        if count > reported[reason]:
            WAITING_DROPPED.labels(reason).inc(count - reported[reason])
            log.warning("waiting_events_dropped", reason=reason, count=count - reported[reason])
            reported[reason] = count


async def close_publisher(app: faust.App) -> None:
    await app.daily.close()
