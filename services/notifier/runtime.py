"""The notifier's I/O around the pure state (state.py) and rules (rules.py): the state folded from the
log, clock-tick decisions published before they are folded, delivery, and staff actions.

The shared log-state runtime (services.common.logstate) rebuilds the state at start by folding
`members`, `engagement.events`, `alerts`, `notifications.outbound` and `surveys` (survey.scored, for
symptom alerts: a score folded after a tick is judged on the next tick) from offset 0 (past tansu's
short end offsets; ready under steady traffic too, since `engagement.events` is never quiet while
members use the app); until then nothing is decided and `/readyz` answers 503. The tail then keeps
running, so every replica sees every cohort's settings (keyed `cohort:<id>`, one partition), alerts
acted on through another replica and deliveries recorded by other workers. The faust agents consume
the same member-keyed topics for their assigned partitions, so a partition's enrolments and events
are folded before the clock ticks that follow them on that partition (both folds are idempotent).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta
from uuid import UUID

import orjson
from pydantic import ValidationError

from contracts.alerts import AlertAcknowledged, AlertEvent, CallLogged, alert_event_adapter
from contracts.clock import ClockTick
from contracts.erasure import MemberErased, MemberKey
from contracts.notifications import (
    NotificationDeadLetter,
    NotificationDelivered,
    NotificationFailed,
    NotificationReplayed,
    NotificationRequested,
    NotificationSkipped,
)
from contracts.topics import (
    ALERTS,
    ENGAGEMENT_EVENTS,
    MEMBER_ERASURES,
    MEMBER_KEYS,
    MEMBERS,
    NOTIFICATIONS_DLQ,
    NOTIFICATIONS_OUTBOUND,
    SURVEYS,
)
from services.common.kafka import Record
from services.common.logging import error_summary, log
from services.common.logstate import LogStateRuntime
from services.common.member_keys import KeyRing
from services.common.ticks import CountedTickGate, Tick, Verdict

from . import rules, snapshot, telemetry
from .delivery import Deliverer
from .queue import AlertView
from .settings import NotifierSettings
from .state import NotifierState

TAIL_TOPICS = (MEMBERS.name, ENGAGEMENT_EVENTS.name, ALERTS.name, NOTIFICATIONS_OUTBOUND.name, MEMBER_KEYS.name,
               MEMBER_ERASURES.name, SURVEYS.name)


def _why(exc: Exception) -> str:
    """An error for the logs without the offending input (a call note is staff free text)."""
    if isinstance(exc, ValidationError):
        return error_summary(exc)  # field and error type: a message can quote the value
    return type(exc).__name__


class NotifierRuntime(LogStateRuntime):
    def __init__(self, settings: NotifierSettings) -> None:
        super().__init__("notifier", TAIL_TOPICS, settings.kafka_bootstrap, settings.delivery_timeout_ms,
                         settings.rebuild_idle_s)
        self.settings = settings
        self.state = NotifierState(grace=timedelta(minutes=settings.reminder_grace_minutes),
                                   escalate_after=timedelta(hours=settings.escalate_after_hours),
                                   nurse_webhook=bool(settings.nurse_webhook_url),
                                   dedup_window=settings.dedup_window,
                                   waiting=settings.waiting_room())
        self._drops_reported: Counter[str] = Counter()
        self.deliverer = Deliverer(settings)
        self.keys = KeyRing()  # members' data keys: call notes are written and read with them (docs/erasure.md)
        self._gauge_cohorts: set[str] = set()
        # Clock: only a tick later than the latest applied on its partition decides (docs/clock.md).
        self.tick_gate = CountedTickGate.for_service("notifier", settings.clock_mode)
        self.tick_gate.announce()
        self.snapshotter = snapshot.snapshotter(settings, self.state)  # bounded restarts (docs/scale.md)

    async def stop(self) -> None:
        await super().stop()
        await self.deliverer.close()

    # --- the log-state hooks -------------------------------------------------------------------

    def on_rebuilt(self) -> None:
        self._refresh_gauges()
        log.info("notifier_state_rebuilt", members=len(self.state.members), alerts=len(self.state.queue.alerts),
                 delivered=len(self.state.done), seconds=round(self.rebuild_seconds or 0.0, 3))

    def fold(self, topic: str, partition: int, value: bytes | None, count_drop: bool = True) -> None:
        try:
            if topic == MEMBERS.name:
                self.state.fold_member(partition, value or b"")
            elif topic == ENGAGEMENT_EVENTS.name:
                self.state.fold_engagement(value or b"", count_drop)
            elif topic == ALERTS.name:
                self.apply_alert(alert_event_adapter.validate_json(value or b""))
            elif topic == NOTIFICATIONS_OUTBOUND.name:
                self.state.fold_notification(value or b"")
            elif topic == SURVEYS.name:
                self.state.fold_survey(value or b"")
            elif topic == MEMBER_KEYS.name:
                if value is not None:  # a tombstone carries no member id here; member.erased destroys the key
                    self.keys.fold(MemberKey.model_validate_json(value).member_id, value)
            elif topic == MEMBER_ERASURES.name:
                erased = MemberErased.model_validate_json(value or b"").member_id
                self.keys.destroy(erased)
                self.state.erase(erased)  # re-keyed to a pseudonym that no log line names
                if self.rebuilt.is_set():
                    self._refresh_gauges()
            telemetry.RECORDS.labels(topic, "folded").inc()
        except (ValidationError, orjson.JSONDecodeError, ValueError) as exc:
            telemetry.RECORDS.labels(topic, "invalid").inc()
            log.warning("notifier_record_invalid", topic=topic, partition=partition, error=_why(exc))

    def apply_alert(self, event: AlertEvent) -> bool:
        applied = self.state.apply_alert(event)
        view = self.state.queue.alerts.get(event.alert_id)  # None: an erased member's (renamed) alert
        if applied and self.rebuilt.is_set() and view is not None:
            if isinstance(event, AlertAcknowledged | CallLogged) and view.acknowledged_at == event.occurred_at:
                telemetry.TIME_TO_ACK.observe(max((view.acknowledged_at - view.raised_at).total_seconds(), 0))
            self._refresh_gauges()
        return applied

    # --- publishing ----------------------------------------------------------------------------

    @staticmethod
    def note_record(note) -> Record:
        return Record(NOTIFICATIONS_OUTBOUND.name, note.recipient.encode(), note.model_dump_json().encode())

    @staticmethod
    def alert_record(event: AlertEvent) -> Record:
        return Record(ALERTS.name, event.member_id.encode(), event.model_dump_json().encode())

    async def commit(self, notes: Sequence[NotificationRequested | NotificationSkipped],
                     events: Sequence[AlertEvent]) -> None:
        """Notification requests first, then the alert steps: a crash in between re-decides the same
        step with the same ids on the next run, and the delivery side drops the repeated request by
        its dedup_key. Folded only after the broker acknowledged."""
        if notes:
            await self.publish([self.note_record(n) for n in notes], retry=True)
            requested = [n for n in notes if isinstance(n, NotificationRequested)]
            for n in requested:
                self.state.requested.add(n.dedup_key, n.occurred_at)
            telemetry.REMINDERS.inc(sum(n.kind == "reminder" for n in requested))
            self.count_skipped([n for n in notes if isinstance(n, NotificationSkipped)])
        if events:
            await self.publish([self.alert_record(e) for e in events], retry=True)
            for event in events:
                if self.apply_alert(event):
                    telemetry.ALERT_EVENTS.labels(event.type).inc()

    def count_skipped(self, skipped: Sequence[NotificationSkipped]) -> None:
        for n in skipped:
            self.state.skipped.add(n.dedup_key, n.occurred_at)
        for reason in ("past_grace", "superseded"):
            count = sum(n.reason == reason for n in skipped)
            if count:  # counts only: member ids stay out of the logs
                telemetry.REMINDERS_SKIPPED.labels(reason).inc(count)
                log.info("reminders_skipped", reason=reason, count=count, tick=skipped[0].occurred_at.isoformat())

    # --- stream handlers (called by the faust agents, one record at a time) ---------------------

    async def on_member_record(self, partition: int, value: bytes) -> None:
        await self.rebuilt.wait()
        self.fold(MEMBERS.name, partition, value)

    async def on_engagement_record(self, partition: int, value: bytes) -> None:
        await self.rebuilt.wait()
        # The log tail folds every engagement record as well and counts the events the waiting room
        # refuses; counting them here too would report deliveries, not events.
        self.fold(ENGAGEMENT_EVENTS.name, partition, value, count_drop=False)

    async def on_tick_record(self, partition: int, value: bytes, written_at: datetime | None = None) -> None:
        await self.rebuilt.wait()
        try:
            tick = ClockTick.model_validate_json(value)
        except ValidationError as exc:
            log.warning("clock_tick_invalid", partition=partition, error=_why(exc))
            return
        if self.tick_gate.admit(partition, Tick(tick.now, written_at)) is not Verdict.APPLY:
            return  # duplicate, backwards or from the future: counted by the gate, decides nothing
        notes, events = self.state.decide(partition, tick.now)
        await self.commit(notes, events)
        self.state.tick_handled(partition, tick.now)
        self._refresh_gauges()

    async def on_outbound_record(self, partition: int, value: bytes) -> str:
        """Deliver a `notification.requested` once per dedup_key, or an operator's `notification.replayed`
        once per replay despite that dedup (state.delivery_due); record the outcome on the topic."""
        await self.rebuilt.wait()
        replay: UUID | None = None
        try:
            data = orjson.loads(value)
            kind = data.get("type") if isinstance(data, dict) else None
            if kind == "notification.replayed":
                replayed = NotificationReplayed.model_validate(data)
                note, replay = replayed.request, replayed.event_id
            elif kind == "notification.requested":
                note = NotificationRequested.model_validate(data)
            else:
                self.fold(NOTIFICATIONS_OUTBOUND.name, partition, value)
                return "folded"
        except (orjson.JSONDecodeError, ValidationError) as exc:
            log.warning("notification_invalid", partition=partition, error=_why(exc))
            return "invalid"
        if self.state.aliases and self.state.for_erased(data):
            telemetry.DEDUPLICATED.labels(note.channel).inc()
            return "erased"  # never send anything to, or about, an erased member
        self.state.requested.add(note.dedup_key, note.occurred_at)
        if not self.state.delivery_due(note.dedup_key, replay):
            telemetry.DEDUPLICATED.labels(note.channel).inc()
            return "duplicate"
        if replay is None and self.state.expired(note):  # older than the dedup window: its outcome may be forgotten
            telemetry.DEDUPLICATED.labels(note.channel).inc()
            log.warning("notification_expired", channel=note.channel, kind=note.kind)
            return "expired"
        ok, attempts, reason = await self.deliverer.deliver(note)
        now = note.occurred_at
        ids = (note.dedup_key,) if replay is None else (note.dedup_key, replay)  # a replay's outcome is its own
        if ok:
            outcome = NotificationDelivered(event_id=rules.stable_id("delivered", *ids), dedup_key=note.dedup_key,
                                            channel=note.channel, recipient=note.recipient, attempts=attempts,
                                            occurred_at=now, replay_of=replay)
            records = [self.note_record(outcome)]
        else:
            outcome = NotificationFailed(event_id=rules.stable_id("failed", *ids), dedup_key=note.dedup_key,
                                         channel=note.channel, recipient=note.recipient, attempts=attempts,
                                         reason=reason, occurred_at=now, replay_of=replay)
            dead = NotificationDeadLetter(event_id=rules.stable_id("dead", *ids), dedup_key=note.dedup_key,
                                          reason=reason, attempts=attempts, request=note, occurred_at=now)
            records = [Record(NOTIFICATIONS_DLQ.name, note.recipient.encode(), dead.model_dump_json().encode()),
                       self.note_record(outcome)]
        self.state.delivery_handled(note.dedup_key, ok, note.occurred_at, replay)
        await self.publish(records, retry=True)
        telemetry.DELIVERIES.labels(note.channel, "delivered" if ok else "failed").inc()
        return "delivered" if ok else "failed"

    # --- staff actions -------------------------------------------------------------------------

    async def act(self, event: AlertEvent) -> AlertView:
        """Publish a staff action (acks=all; BrokerUnavailable → 503) and fold it like the log would."""
        await self.publish([self.alert_record(event)], retry=False)
        if self.apply_alert(event):
            telemetry.ALERT_EVENTS.labels(event.type).inc()
        return self.state.queue.alerts[event.alert_id]

    def _refresh_gauges(self) -> None:
        open_by_cohort = Counter(v.cohort for v in self.state.queue.unresolved())
        for cohort in set(open_by_cohort) | self._gauge_cohorts:
            telemetry.ALERTS_OPEN.labels(cohort).set(open_by_cohort.get(cohort, 0))
        self._gauge_cohorts |= set(open_by_cohort)
        first, escalated = self.state.overdue()
        telemetry.ALERTS_OVERDUE.labels("first").set(first)
        telemetry.ALERTS_OVERDUE.labels("escalated").set(escalated)
        # the waiting room's size and new drops; the log names reasons and counts, never a member
        telemetry.WAITING_EVENTS.set(len(self.state.early))
        for reason, count in self.state.early.dropped.items():
            if count > self._drops_reported[reason]:
                telemetry.WAITING_DROPPED.labels(reason).inc(count - self._drops_reported[reason])
                log.warning("waiting_events_dropped", reason=reason, count=count - self._drops_reported[reason])
                self._drops_reported[reason] = count
