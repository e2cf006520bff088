"""faust agents: engagement.events + members + clock.ticks → member-day state (`state.py`),
published to `engagement.daily` (compacted, key member|day) and `engagement.events.dlq`.

Scale-out: N workers share ONE stable consumer group (`METRICS_GROUP_ID`); each keeps one book per
partition it owns (`books.py`, `ownership.py`, docs/scale.md "The metrics stream"). Recovery: a
partition a worker gains (at start, after a rebalance) is restored from ITS OWN SNAPSHOT and the log
after it, or REBUILT BY REPLAYING ITS SOURCE TOPICS from offset 0 without one (`snapshot.py`), never
taken from a faust changelog: changelog recovery trusts end offsets, which tansu reports one batch
short, and faust is at-least-once anyway; replaying into idempotent state (events by id,
last-write-wins members) gives exactly the same state, and re-published `engagement.daily` values are
identical for the same key. Cohort settings are keyed by cohort (one partition), so every worker reads
them from every partition of `members` with a group-less tail. The published NUMBERS come from
ClickHouse, not from this state; a test cross-checks the two.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from datetime import timezone

import faust
from faust.types import TP
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
from services.common.faust_transport import use_direct_delivery
from services.common.kafka import Publisher, Record, broker_reachable
from services.common.lag import LagReporter, report_faust_lag
from services.common.logging import error_summary, log
from services.common.logstate import LogTail
from services.common.pseudonyms import new_pseudonym
from services.common.stream import catalogue_topic, make_faust_app
from services.common.ticks import CountedTickGate, Tick, kafka_time
from services.common.waiting import RoomBudget, WaitingRoom

from . import snapshot
from .books import PartitionBooks
from .ownership import Ownership
from .publication import DailyPublication
from .settings import MetricsSettings
from .state import MemberDayBook
from .stream_transport import OwnedPartitionsTransport
from .telemetry import (
    DEAD_LETTERS,
    EVENT_CONFLICTS,
    RETIRED_MEMBERS,
    RETIRED_RECORDS,
    STREAM_EVENTS,
    UNPUBLISHED,
    WAITING_DROPPED,
    WAITING_EVENTS,
)

# A gained partition counts as rebuilt once these were read up to the log end (ownership.caught_up).
REBUILT_TOPICS = (MEMBERS.name, ENGAGEMENT_EVENTS.name)
# The co-partitioned topics the agents read: partition p of each holds the records of the same members.
MEMBER_KEYED = frozenset({ENGAGEMENT_EVENTS.name, MEMBERS.name, MEMBER_ERASURES.name, CLOCK_TICKS.name})


def new_books(settings: MetricsSettings) -> PartitionBooks:
    """The books of one process: the settings' windows, one waiting-room bound for all of them."""
    budget = RoomBudget(settings.waiting_total)
    return PartitionBooks(lambda **shared: MemberDayBook(dedup_window=settings.dedup_window,
                                                         pending=settings.waiting_room(budget), **shared))


def build_faust_app(settings: MetricsSettings) -> faust.App:
    app = make_faust_app(settings.group_id, settings, stream_buffer_maxsize=32_768, broker_max_poll_records=5_000)
    use_direct_delivery(app, OwnedPartitionsTransport)
    books = app.books = new_books(settings)
    own = app.ownership = Ownership()
    drops_reported: dict[int, Counter[str]] = {}  # partition → its room's drops exported so far
    # One acks=all batch per agent batch, sent by one task in order: faust's per-record send costs
    # ~10x more, and awaiting the acknowledgement in the agent stalled the fold.
    app.daily = DailyPublication(lambda: Publisher(settings.kafka_bootstrap, 10_000, "metrics"))
    app.task(app.daily.run)
    dlq = catalogue_topic(app, ENGAGEMENT_EVENTS_DLQ)
    lag = app.lag = LagReporter("metrics", "stream")  # docs/scale.md, "Lag"
    report_faust_lag(app, lag)
    rebalancing = asyncio.Event()  # set from a revocation until the next assignment's seek

    async def start_offsets(assignment) -> dict:
        """faust's seek after a rebalance (stream_transport.py): forget the partitions lost, restore the
        gained ones from their snapshots (or rebuild them from offset 0), resume the kept ones at their
        applied position."""
        # Only the member-keyed topics: faust's assignment also holds its own leader topic, whose
        # partition 0 is not member partition 0.
        keys = [(tp.topic, tp.partition) for tp in assignment if tp.topic in MEMBER_KEYED]
        gained, lost = own.assign(keys)
        for partition in lost | gained:
            books.drop(partition)
            drops_reported.pop(partition, None)
        app.snapshots.forget(lost | gained)
        lag.forget([key for key in lag.applied.keys() | lag.log_end.keys() if key[1] in lost | gained])
        own.resume(await app.snapshots.load(gained))
        for partition in gained:
            drops_reported[partition] = Counter(books.book(partition).pending.dropped)
        starts = own.starts(keys)
        for (topic, partition), offset in starts.items():
            lag.record_applied(topic, partition, offset)
        if gained or lost:
            restored = {partition for (_, partition), offset in starts.items() if offset and partition in gained}
            log.info("stream_partitions_assigned", owned=sorted(own.owned), gained=sorted(gained), lost=sorted(lost),
                     restored_from_snapshot=sorted(restored))
        rebalancing.clear()
        return {tp: starts[(tp.topic, tp.partition)] for tp in assignment if tp.topic in MEMBER_KEYED}

    app.start_offsets = start_offsets

    @app.on_partitions_revoked.connect
    async def flush_before_handing_over(sender, revoked, **kwargs) -> None:
        # A partition's next owner replays it and publishes its days: nothing this worker still has
        # queued may land after those (the compacted topic keeps the last value of a key).
        rebalancing.set()
        if not await broker_reachable(settings.kafka_bootstrap):
            return  # a stop during an outage: nothing queued can land anywhere, and the stop must not wait
        with contextlib.suppress(asyncio.TimeoutError):  # a broker outage must not hold the rebalance
            await asyncio.wait_for(app.daily.flushed(), timeout=settings.rebalance_flush_s)

    def log_ends(partition: int) -> dict[tuple[str, int], int]:
        """The log end of the partition's member and event topics, from the last fetch (faust's highwater)."""
        ends = {}
        for topic in REBUILT_TOPICS:
            try:
                end = app.consumer.highwater(TP(topic, partition))
            except AssertionError:  # aiokafka: "Partition is not assigned" (a rebalance under way)
                continue
            if end is not None and end >= 0:
                ends[(topic, partition)] = end
        return ends

    def admitted(event) -> bool:
        message = event.message
        return own.admit(message.topic, message.partition, message.offset)

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
            parsed: dict[int, list] = {}
            batch = [event for event in batch if admitted(event)]
            for event in batch:
                try:
                    parsed.setdefault(event.message.partition, []).append(parse_recorded_event(event.value))
                except ValidationError as exc:
                    log.warning("stream_invalid_event", error=error_summary(exc))
            changed = []
            for partition, events_read in parsed.items():
                book = books.book(partition)
                conflicts, ignored = book.conflicts, book.retired_records
                changed += book.apply_events(events_read)
                EVENT_CONFLICTS.inc(book.conflicts - conflicts)
                RETIRED_RECORDS.inc(book.retired_records - ignored)
                STREAM_EVENTS.labels(ENGAGEMENT_EVENTS.name).inc(len(events_read))
            await publish(changed)
            for event in batch:  # offsets only grow within a partition: the last one per partition wins
                lag.record_applied(event.message.topic, event.message.partition, event.message.offset + 1)

    def member_change(value: bytes, partition: int) -> list[EngagementDay] | None:
        try:
            record = parse_member_record(value)
        except ValidationError as exc:
            log.warning("stream_invalid_member_record", error=error_summary(exc))
            return None
        if isinstance(record, CohortConfigured):
            return None  # every worker reads these from every partition (the cohort tail below)
        book = books.book(partition)
        ignored = book.retired_records
        if isinstance(record, MemberEnrolled):
            changed = book.enrol(record)
        elif isinstance(record, MemberWithdrawn):
            changed = book.withdraw(record)
        else:
            changed = book.change_timezone(record)
        RETIRED_RECORDS.inc(book.retired_records - ignored)
        return changed

    @app.agent(catalogue_topic(app, MEMBERS))
    async def members(stream):
        async for event in stream.events():
            if not admitted(event):
                continue
            changed = member_change(event.value, event.message.partition)
            if changed is not None:
                STREAM_EVENTS.labels(MEMBERS.name).inc()
                await publish(changed)
            lag.record_applied(event.message.topic, event.message.partition, event.message.offset + 1)

    # Cohort settings judge every member of the cohort, whichever worker owns them: each worker folds
    # them from all partitions of `members` and re-states its own members' days (outside a rebalance,
    # so a partition handed over never receives a stale day from here).
    restate: set[str] = set()
    configured = asyncio.Event()

    def fold_cohort(topic: str, partition: int, value: bytes | None) -> None:
        if not value or b'"cohort.configured"' not in value:
            return
        try:
            record = parse_member_record(value)
        except ValidationError as exc:
            log.warning("stream_invalid_member_record", error=error_summary(exc))
            return
        if isinstance(record, CohortConfigured):
            books.set_cohort(record)
            STREAM_EVENTS.labels(MEMBERS.name).inc()
            restate.add(record.cohort)
            configured.set()

    UNPUBLISHED.set_function(lambda: len(restate) + (0 if app.daily.idle else 1))
    app.cohort_tail = LogTail("metrics-log-tail", settings.kafka_bootstrap, [MEMBERS.name], fold_cohort,
                              idle_s=0.5)

    @app.task
    async def restate_cohorts() -> None:
        app.cohort_tail.start()
        while True:
            await configured.wait()
            configured.clear()
            while rebalancing.is_set():
                await asyncio.sleep(0.05)
            while restate:
                await publish(books.cohort_days(restate.pop()))

    @app.agent(catalogue_topic(app, MEMBER_ERASURES))
    async def erasures(stream):
        # docs/erasure.md: the member's days move to a random pseudonym; their keys on the compacted
        # engagement.daily get tombstones, so compaction removes the id from that topic too.
        async for event in stream.events():
            if not admitted(event):
                continue
            try:
                member = MemberErased.model_validate_json(event.value).member_id
            except ValidationError as exc:
                log.warning("stream_invalid_erasure", error=error_summary(exc))
                member = None
            if member is not None:
                old_days, renamed = books.book(event.message.partition).erase(member, new_pseudonym())
                STREAM_EVENTS.labels(MEMBER_ERASURES.name).inc()
                await app.daily.put([Record(ENGAGEMENT_DAILY.name, f"{member}|{d.isoformat()}".encode(), None)
                                     for d in old_days])
                await publish(renamed)
            lag.record_applied(event.message.topic, event.message.partition, event.message.offset + 1)

    # A tick is gated only to be counted like every consumer (clock_ticks_*{consumer="metrics_state"}).
    # Events still waiting for an enrolment are dead-lettered at any valid tick, stale ones included
    # (dead-lettering is once per event and changes no number). Nothing time-based is decided for a
    # partition still being rebuilt: its events may be read before their enrolments, its ticks ahead.
    app.tick_gate = CountedTickGate.for_service("metrics_state", settings.clock_mode)
    app.tick_gate.announce()

    @app.agent(catalogue_topic(app, CLOCK_TICKS))
    async def ticks(stream):
        async for batch in stream.take_events(500, within=0.05):  # a catching-up consumer: newest per partition
            waiting: dict[int, list[Tick]] = {}
            batch = [event for event in batch if admitted(event)]
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
                book, ends = books.book(partition), log_ends(partition)
                if own.caught_up(partition, REBUILT_TOPICS, ends):
                    await dead_letter(book.dead_letters(now))
                book.tick(now)  # after dead-lettering: an expired event stays replayable from the DLQ
                if own.at_log_end(partition, REBUILT_TOPICS, ends):  # so rebuilt too: nothing unread
                    RETIRED_MEMBERS.inc(len(book.retire(now)))
                report_waiting(book.pending, drops_reported.setdefault(partition, Counter()))
            WAITING_EVENTS.set(sum(len(book.pending) for book in books))
            # Applied only once the whole batch is decided (unreadable records included: nothing to do).
            for event in batch:
                lag.record_applied(event.message.topic, event.message.partition, event.message.offset + 1)

    snapshot.attach(app, settings)  # bounded restarts: each gained partition from its snapshot (start_offsets)
    return app


def report_waiting(pending: WaitingRoom, reported: Counter[str]) -> None:
    """Export a waiting room's new drops; the log names reasons and counts, no member."""
    for reason, count in pending.dropped.items():
        if count > reported[reason]:
            WAITING_DROPPED.labels(reason).inc(count - reported[reason])
            log.warning("waiting_events_dropped", reason=reason, count=count - reported[reason])
            reported[reason] = count


async def close_publisher(app: faust.App) -> None:
    await app.cohort_tail.stop()
    await app.daily.close()
