"""The notifier's moving parts around the pure rules: state folded from the log, clock-tick
decisions (publish first, fold after the broker's acknowledgement) and delivery.

State is never taken from faust changelogs (tansu answers ListOffsets one batch short): at start a
tail consumer (no group, every partition) reads `members`, `engagement.events`, `alerts` and
`notifications.outbound` from offset 0, past the *reported* end offsets and until the log stays quiet
for `rebuild_idle_s`; until then nothing is decided and `/readyz` answers 503. The tail then keeps
running, so every replica sees every cohort's settings (keyed `cohort:<id>`, one partition), alerts
acted on through another replica and deliveries recorded by other workers. The faust agents consume
the same member-keyed topics for their assigned partitions, so a partition's enrolments and events
are folded before the clock ticks that follow them on that partition (both folds are idempotent).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Sequence
from contextlib import suppress
from datetime import date, datetime, timedelta, timezone
from uuid import UUID

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import ValidationError

from contracts.alerts import (
    AlertAcknowledged, AlertEscalated, AlertEvent, AlertRaised, AlertResolved, CallLogged, alert_event_adapter,
)
from contracts.clock import ClockTick
from contracts.engagement import NO_ENGAGEMENT, DayEngagement, local_day
from contracts.events import parse_recorded_event
from contracts.members import CohortConfigured, CohortSettings, MemberEnrolled, MemberWithdrawn
from contracts.notifications import (
    NotificationDeadLetter, NotificationDelivered, NotificationFailed, NotificationRequested, NotificationSkipped,
)
from contracts.topics import ALERTS, ENGAGEMENT_EVENTS, MEMBERS, NOTIFICATIONS_DLQ, NOTIFICATIONS_OUTBOUND
from services.common.kafka import BrokerUnavailable, Publisher, Record, tail_from_start
from services.common.logging import log
from services.common.tasks import cancel_and_wait
from services.common.ticks import CountedTickGate, Tick, Verdict

from . import rules, telemetry
from .delivery import Deliverer
from .queue import AlertView, CallQueue
from .settings import NotifierSettings

DEFAULT_SETTINGS = CohortSettings()
TAIL_TOPICS = (MEMBERS.name, ENGAGEMENT_EVENTS.name, ALERTS.name, NOTIFICATIONS_OUTBOUND.name)


def _why(exc: Exception) -> str:
    """An error for the logs without the offending input (a call note is staff free text)."""
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_input=False))[:300]
    return type(exc).__name__


class NotifierRuntime:
    def __init__(self, settings: NotifierSettings) -> None:
        self.settings = settings
        self.grace = timedelta(minutes=settings.reminder_grace_minutes)
        self.escalate_after = timedelta(hours=settings.escalate_after_hours)
        self.members: dict[str, rules.Member] = {}
        self.partition_members: dict[int, set[str]] = {}
        self.cohorts: dict[str, CohortSettings] = {}
        self.days: dict[str, dict[date, DayEngagement]] = {}
        self.last_activity: dict[str, datetime] = {}
        self._early: dict[str, list] = {}  # events of members not enrolled yet
        self.queue = CallQueue()
        self.requested: set[str] = set()          # dedup keys requested on notifications.outbound
        self.done: dict[str, str] = {}             # dedup key → delivered | failed
        self.skipped: set[str] = set()             # reminder keys recorded as notification.skipped
        self.ticks_done: dict[int, datetime] = {}  # partition → latest tick fully handled
        self.latest_tick: datetime | None = None
        self.rebuilt = asyncio.Event()
        self.rebuild_seconds: float | None = None
        self.publisher: Publisher | None = None
        self.deliverer = Deliverer(settings)
        self._tail: asyncio.Task | None = None
        self._stopping = False
        self._locks: dict[UUID, asyncio.Lock] = {}
        # Clock: only a tick later than the latest applied on its partition decides (docs/clock.md).
        self.tick_gate = CountedTickGate.for_service("notifier", settings.clock_mode)

    # --- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        self.publisher = await asyncio.to_thread(
            Publisher, self.settings.kafka_bootstrap, self.settings.delivery_timeout_ms, "notifier")
        self._tail = asyncio.create_task(self._tail_log(), name="notifier-log-tail")
        self.tick_gate.announce()

    async def stop(self) -> None:
        self._stopping = True
        with suppress(Exception):  # a tail that failed must not stop the shutdown
            await cancel_and_wait(self._tail)
        await self.deliverer.close()
        if self.publisher is not None:
            await asyncio.to_thread(self.publisher.close)

    async def _tail_log(self) -> None:
        await tail_from_start(self.settings.kafka_bootstrap, "notifier-log-tail", self._fold_forever,
                              lambda: self._stopping)

    async def _fold_forever(self, consumer: AIOKafkaConsumer) -> None:
        started = time.monotonic()
        await consumer.topics()
        tps = [TopicPartition(topic, p) for topic in TAIL_TOPICS for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        reported_end = await consumer.end_offsets(tps)
        last_new = time.monotonic()
        while True:
            batches = await consumer.getmany(timeout_ms=200, max_records=5000)
            for tp, records in batches.items():
                for record in records:
                    self.fold(tp.topic, tp.partition, record.value)
            if batches:
                last_new = time.monotonic()
            if not self.rebuilt.is_set():
                positions = {tp: await consumer.position(tp) for tp in tps}
                if all(positions[tp] >= reported_end[tp] for tp in tps) \
                        and time.monotonic() - last_new >= self.settings.rebuild_idle_s:
                    self.rebuild_seconds = time.monotonic() - started
                    self._refresh_gauges()
                    log.info("notifier_state_rebuilt", members=len(self.members), alerts=len(self.queue.alerts),
                             delivered=len(self.done), seconds=round(self.rebuild_seconds, 3))
                    self.rebuilt.set()

    # --- folding the log (idempotent) ----------------------------------------------------------

    def fold(self, topic: str, partition: int, value: bytes | None) -> None:
        try:
            if topic == MEMBERS.name:
                self.fold_member(partition, value or b"")
            elif topic == ENGAGEMENT_EVENTS.name:
                self.fold_engagement(value or b"")
            elif topic == ALERTS.name:
                self.apply_alert(alert_event_adapter.validate_json(value or b""), live=False)
            elif topic == NOTIFICATIONS_OUTBOUND.name:
                self.fold_notification(value or b"")
            telemetry.RECORDS.labels(topic, "folded").inc()
        except (ValidationError, orjson.JSONDecodeError, ValueError) as exc:
            telemetry.RECORDS.labels(topic, "invalid").inc()
            log.warning("notifier_record_invalid", topic=topic, partition=partition, error=_why(exc))

    def fold_member(self, partition: int, value: bytes) -> None:
        data = orjson.loads(value)
        kind = data.get("type") if isinstance(data, dict) else None
        if kind == "cohort.configured":
            event = CohortConfigured.model_validate(data)
            self.cohorts[event.cohort] = event.settings
        elif kind == "member.enrolled":
            event = MemberEnrolled.model_validate(data)
            known = self.members.get(event.member_id)
            self.members[event.member_id] = rules.Member(event.member_id, event.cohort, event.timezone,
                                                         event.enrolled_on, known.withdrawn_on if known else None)
            self.partition_members.setdefault(partition, set()).add(event.member_id)
            for early in self._early.pop(event.member_id, []):
                self._add_event(early)
        elif kind == "member.withdrawn":
            event = MemberWithdrawn.model_validate(data)
            known = self.members.get(event.member_id)
            if known is not None:
                self.members[event.member_id] = rules.Member(known.member_id, known.cohort, known.timezone,
                                                             known.enrolled_on, event.withdrawn_on)

    def fold_engagement(self, value: bytes) -> None:
        self._add_event(parse_recorded_event(value))

    def _add_event(self, event) -> None:
        member = self.members.get(event.member_id)
        if member is None:
            self._early.setdefault(event.member_id, []).append(event)
            return
        rules.add_event(self.days.setdefault(event.member_id, {}), event, member.timezone)
        if event.occurred_at > self.last_activity.get(event.member_id, event.occurred_at - timedelta(1)):
            self.last_activity[event.member_id] = event.occurred_at

    def fold_notification(self, value: bytes) -> None:
        data = orjson.loads(value)
        kind = data.get("type") if isinstance(data, dict) else None
        if kind == "notification.requested":
            self.requested.add(NotificationRequested.model_validate(data).dedup_key)
        elif kind == "notification.delivered":
            self.done[NotificationDelivered.model_validate(data).dedup_key] = "delivered"
        elif kind == "notification.failed":
            self.done.setdefault(NotificationFailed.model_validate(data).dedup_key, "failed")
        elif kind == "notification.skipped":
            self.skipped.add(NotificationSkipped.model_validate(data).dedup_key)

    def apply_alert(self, event: AlertEvent, live: bool) -> bool:
        applied = self.queue.apply(event)
        if applied:
            view = self.queue.alerts[event.alert_id]
            if isinstance(event, AlertAcknowledged | CallLogged) and view.acknowledged_at == event.occurred_at \
                    and self.rebuilt.is_set():
                telemetry.TIME_TO_ACK.observe(max((view.acknowledged_at - view.raised_at).total_seconds(), 0))
            if self.rebuilt.is_set():
                self._refresh_gauges()
        return applied

    # --- decisions on a clock tick -------------------------------------------------------------

    def now(self) -> datetime:
        """"Now" for staff actions: the latest clock.tick (time is an event); wall clock before any tick."""
        return self.latest_tick or datetime.now(timezone.utc)

    def settings_of(self, cohort: str) -> CohortSettings:
        return self.cohorts.get(cohort, DEFAULT_SETTINGS)

    def decide(self, partition: int, now: datetime
               ) -> tuple[list[NotificationRequested | NotificationSkipped], list[AlertEvent]]:
        """Everything due for the members of `partition` at `now` (pure given the folded state)."""
        notes: list[NotificationRequested | NotificationSkipped] = []
        events: list[AlertEvent] = []
        extra_load: Counter = Counter()  # alerts raised earlier in this same decision
        for member_id in sorted(self.partition_members.get(partition, ())):
            member = self.members[member_id]
            cohort = self.settings_of(member.cohort)
            days = self.days.get(member_id, {})
            alert_id = self.queue.unresolved_by_member.get(member_id)
            if alert_id is not None:
                view = self.queue.alerts[alert_id]
                reason = rules.resolution(view.rule, view.through, member, cohort, days, now)
                if reason is not None:
                    events.append(AlertResolved(event_id=rules.stable_id("resolved", alert_id), alert_id=alert_id,
                                                member_id=member_id, cohort=member.cohort, occurred_at=now,
                                                reason=reason))
                elif view.status == "open" and view.escalated_at is None \
                        and rules.escalation_due(view.raised_at, now, self.escalate_after):
                    events.append(AlertEscalated(event_id=rules.stable_id("escalated", alert_id), alert_id=alert_id,
                                                 member_id=member_id, cohort=member.cohort, occurred_at=now,
                                                 assigned_to=view.assigned_to, lead_nurse=cohort.lead_nurse))
                    notes += self._alert_notes("alert_escalated", view, now, cohort.lead_nurse)
            else:
                finding = rules.evaluate(member, cohort, days, now)
                if finding is not None and finding.alert_id not in self.queue.alerts:
                    nurse = rules.pick_nurse(cohort.nurses, self.queue.unresolved_counts(member.cohort) + extra_load)
                    if nurse:
                        extra_load[nurse] += 1
                    raised = AlertRaised(
                        event_id=rules.stable_id("raised", finding.alert_id), alert_id=finding.alert_id,
                        member_id=member_id, cohort=member.cohort, occurred_at=now, rule=finding.rule,
                        since=finding.since, through=finding.through, missed_days=finding.missed_days,
                        window_days=finding.window_days, last_login_on=finding.last_login_on, assigned_to=nurse)
                    events.append(raised)
                    notes += self._alert_notes("alert_raised", raised, now, None)
            notes += self._skipped_slots(member, cohort, days, now)
            reminder = rules.reminder_for(member, cohort, days, now, self.grace)
            if reminder is not None and reminder.dedup_key not in self.requested | self.skipped:
                notes.append(NotificationRequested(
                    event_id=rules.stable_id("note", reminder.dedup_key), dedup_key=reminder.dedup_key,
                    kind="reminder", channel="push", recipient=member_id, cohort=member.cohort,
                    title=reminder.title, body=reminder.body, occurred_at=now,
                    data={"day": reminder.day.isoformat(), "slot": reminder.slot.strftime("%H:%M"),
                          "remaining": ",".join(reminder.remaining)}))
        return notes, events

    def _skipped_slots(self, member: rules.Member, cohort: CohortSettings, days, now: datetime
                       ) -> list[NotificationSkipped]:
        """Reminder slots passed and never to be sent, not recorded yet (docs/clock.md, grace window)."""
        return [NotificationSkipped(
            event_id=rules.stable_id("skipped", slot.dedup_key), dedup_key=slot.dedup_key, kind="reminder",
            recipient=slot.member_id, cohort=slot.cohort, due_at=slot.due_at, reason=slot.reason, occurred_at=now)
            for slot in rules.missed_slots(member, cohort, days, now, self.grace)
            if slot.dedup_key not in self.requested and slot.dedup_key not in self.skipped]

    def _alert_notes(self, kind: str, alert, now: datetime, lead: str | None) -> list[NotificationRequested]:
        """E-mail to the assigned nurse (and on escalation to the lead nurse), plus the staff webhook."""
        escalated = kind == "alert_escalated"
        title = ("ESCALATED: " if escalated else "") + f"Call member {alert.member_id} (cohort {alert.cohort})"
        body = (f"Member {alert.member_id} is inactive: {alert.missed_days} of the last {alert.window_days} "
                f"follow-up days without a login (through {alert.through}). "
                + ("Not acknowledged within 24 h. " if escalated else "")
                + "Open the call queue to acknowledge and log the call.")
        data = {"alert_id": str(alert.alert_id), "member_id": alert.member_id}
        recipients = [("email", r) for r in dict.fromkeys(x for x in (alert.assigned_to, lead) if x)]
        if self.settings.nurse_webhook_url:
            recipients.append(("webhook", alert.assigned_to or alert.cohort))
        out = []
        for channel, recipient in recipients:
            key = f"{kind}|{alert.alert_id}|{channel}|{recipient}"
            out.append(NotificationRequested(
                event_id=rules.stable_id("note", key), dedup_key=key, kind=kind, channel=channel, recipient=recipient,
                cohort=alert.cohort, title=title, body=body, data=data, occurred_at=now))
        return out

    # --- publishing ----------------------------------------------------------------------------

    async def publish(self, records: list[Record], retry: bool) -> None:
        assert self.publisher is not None, "runtime not started"
        delay = 0.2
        while True:
            try:
                await self.publisher.publish(records)
                return
            except BrokerUnavailable as exc:
                if not retry or self._stopping:
                    raise
                log.warning("notifier_publish_retry", error=str(exc), delay_s=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

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
            self.requested.update(n.dedup_key for n in requested)
            telemetry.REMINDERS.inc(sum(n.kind == "reminder" for n in requested))
            skipped = [n for n in notes if isinstance(n, NotificationSkipped)]
            self.skipped.update(n.dedup_key for n in skipped)
            for reason in ("past_grace", "superseded"):
                count = sum(n.reason == reason for n in skipped)
                if count:
                    telemetry.REMINDERS_SKIPPED.labels(reason).inc(count)
                    log.info("reminders_skipped", reason=reason, count=count, tick=notes[0].occurred_at.isoformat())
        if events:
            await self.publish([self.alert_record(e) for e in events], retry=True)
            for event in events:
                if self.apply_alert(event, live=True):
                    telemetry.ALERT_EVENTS.labels(event.type).inc()

    # --- stream handlers (called by the faust agents, one record at a time) ---------------------

    async def on_member_record(self, partition: int, value: bytes) -> None:
        await self.rebuilt.wait()
        self.fold(MEMBERS.name, partition, value)

    async def on_engagement_record(self, partition: int, value: bytes) -> None:
        await self.rebuilt.wait()
        self.fold(ENGAGEMENT_EVENTS.name, partition, value)

    async def on_tick_record(self, partition: int, value: bytes, written_at: datetime | None = None) -> None:
        await self.rebuilt.wait()
        try:
            tick = ClockTick.model_validate_json(value)
        except ValidationError as exc:
            log.warning("clock_tick_invalid", partition=partition, error=_why(exc))
            return
        if self.tick_gate.admit(partition, Tick(tick.now, written_at)) is not Verdict.APPLY:
            return  # duplicate, backwards or from the future: counted by the gate, decides nothing
        notes, events = self.decide(partition, tick.now)
        await self.commit(notes, events)
        if self.latest_tick is None or tick.now > self.latest_tick:
            self.latest_tick = tick.now
        if partition not in self.ticks_done or tick.now > self.ticks_done[partition]:
            self.ticks_done[partition] = tick.now
        self._refresh_gauges()

    async def on_outbound_record(self, partition: int, value: bytes) -> str:
        """Deliver a `notification.requested` once per dedup_key; record the outcome on the topic."""
        await self.rebuilt.wait()
        try:
            data = orjson.loads(value)
            if not isinstance(data, dict) or data.get("type") != "notification.requested":
                self.fold(NOTIFICATIONS_OUTBOUND.name, partition, value)
                return "folded"
            note = NotificationRequested.model_validate(data)
        except (orjson.JSONDecodeError, ValidationError) as exc:
            log.warning("notification_invalid", partition=partition, error=_why(exc))
            return "invalid"
        self.requested.add(note.dedup_key)
        if note.dedup_key in self.done:
            telemetry.DEDUPLICATED.labels(note.channel).inc()
            return "duplicate"
        ok, attempts, reason = await self.deliverer.deliver(note)
        now = note.occurred_at
        if ok:
            outcome = NotificationDelivered(event_id=rules.stable_id("delivered", note.dedup_key), dedup_key=note.dedup_key,
                                            channel=note.channel, recipient=note.recipient, attempts=attempts,
                                            occurred_at=now)
            records = [self.note_record(outcome)]
        else:
            outcome = NotificationFailed(event_id=rules.stable_id("failed", note.dedup_key), dedup_key=note.dedup_key,
                                         channel=note.channel, recipient=note.recipient, attempts=attempts,
                                         reason=reason, occurred_at=now)
            dead = NotificationDeadLetter(event_id=rules.stable_id("dead", note.dedup_key), dedup_key=note.dedup_key,
                                          reason=reason, attempts=attempts, request=note, occurred_at=now)
            records = [Record(NOTIFICATIONS_DLQ.name, note.recipient.encode(), dead.model_dump_json().encode()),
                       self.note_record(outcome)]
        # Mark first: while the outcome is being published nothing may send this key again.
        self.done[note.dedup_key] = "delivered" if ok else "failed"
        await self.publish(records, retry=True)
        telemetry.DELIVERIES.labels(note.channel, "delivered" if ok else "failed").inc()
        return "delivered" if ok else "failed"

    # --- staff actions -------------------------------------------------------------------------

    def lock(self, alert_id: UUID) -> asyncio.Lock:
        return self._locks.setdefault(alert_id, asyncio.Lock())

    async def act(self, event: AlertEvent) -> AlertView:
        """Publish a staff action (acks=all; BrokerUnavailable → 503) and fold it like the log would."""
        await self.publish([self.alert_record(event)], retry=False)
        if self.apply_alert(event, live=True):
            telemetry.ALERT_EVENTS.labels(event.type).inc()
        return self.queue.alerts[event.alert_id]

    def engagement_of(self, member_id: str, days_back: int = 7, through: date | None = None) -> dict:
        """Last activity and the recent days up to the member's "today" per the latest tick (a replica
        that saw no tick yet: up to the day after `through` or the last day with activity)."""
        member = self.members.get(member_id)
        last = self.last_activity.get(member_id)
        out = {"last_activity": last.isoformat() if last else None, "recent_days": []}
        if member is None:
            return out
        cohort = self.settings_of(member.cohort)
        days = self.days.get(member_id, {})
        if self.latest_tick is not None:
            today = local_day(self.latest_tick, member.timezone)
        else:
            today = max([*days, *([through + timedelta(days=1)] if through else [])], default=member.enrolled_on)
        for back in range(days_back, -1, -1):
            day = today - timedelta(days=back)
            if day < member.enrolled_on:
                continue
            e = days.get(day, NO_ENGAGEMENT)
            out["recent_days"].append({"day": day.isoformat(), "logged_in": e.logged_in,
                                       "participated": e.participated(cohort.tasks),
                                       "completed": e.completed(cohort.tasks), "tasks_done": sorted(e.tasks_done)})
        out["timezone"] = member.timezone
        return out

    def _refresh_gauges(self) -> None:
        open_by_cohort = Counter(v.cohort for v in self.queue.unresolved())
        for cohort in set(open_by_cohort) | set(self._gauge_cohorts):
            telemetry.ALERTS_OPEN.labels(cohort).set(open_by_cohort.get(cohort, 0))
        self._gauge_cohorts = set(open_by_cohort) | set(self._gauge_cohorts)
        now = self.latest_tick
        first = escalated = 0
        if now is not None:
            for view in self.queue.unresolved():
                if view.status != "open":
                    continue
                if view.escalated_at is not None:
                    escalated += 1
                elif rules.escalation_due(view.raised_at, now, self.escalate_after):
                    first += 1
        telemetry.ALERTS_OVERDUE.labels("first").set(first)
        telemetry.ALERTS_OVERDUE.labels("escalated").set(escalated)

    _gauge_cohorts: set = set()
