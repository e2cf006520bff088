"""The notifier's state and decisions (pure: no broker, no clock reads, no metrics). Folded from the
log by the runtime — `members` (cohort settings, enrolments, withdrawals), `engagement.events`,
`alerts`, `notifications.outbound` and `surveys` (survey.scored) — and asked on each clock tick what is due
(`decide`). Every fold is idempotent: a record may arrive twice (the log tail and the faust agent, or a re-read after a
broker outage). The rules themselves are in rules.py (inactivity) and symptoms.py (QLQ-C30 scores);
the call queue in queue.py.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta, timezone
from uuid import UUID

import orjson

from contracts.alerts import AlertEscalated, AlertEvent, AlertRaised, AlertResolved, CallLogged
from contracts.engagement import NO_ENGAGEMENT, DayEngagement, summarize_day
from contracts.events import parse_recorded_event
from contracts.members import CohortConfigured, MemberEnrolled, parse_member_record
from contracts.notifications import (
    NotificationDelivered,
    NotificationFailed,
    NotificationRequested,
    NotificationSkipped,
)
from contracts.surveys import SurveyScored
from contracts.timeline import MemberTimeline, SettingsHistory, apply_member_record
from services.common.dedup import DEFAULT_WINDOW, WindowedKeys
from services.common.member_keys import ERASED_TEXT
from services.common.pseudonyms import Aliases, renamed_timeline
from services.common.waiting import WaitingRoom

from . import rules, symptoms
from .queue import CallQueue

DEFAULT_SETTINGS = SettingsHistory()
# Every local midnight of every zone (since 2000) falls on a UTC quarter hour, so what a member did in
# one UTC quarter hour lies on one local day whatever the zone history says: the facts are kept per
# quarter hour and the days re-derived from them when the member's zone history changes (a zone change
# read after some of the events it concerns: the log tail folds topics in any order).
QUARTER_S = 900


def quarter_start(index: int) -> datetime:
    return datetime.fromtimestamp(index * QUARTER_S, timezone.utc)


class NotifierState:
    def __init__(self, grace: timedelta, escalate_after: timedelta, nurse_webhook: bool,
                 dedup_window: timedelta = DEFAULT_WINDOW, waiting: WaitingRoom | None = None) -> None:
        self.grace, self.escalate_after, self.nurse_webhook = grace, escalate_after, nurse_webhook
        self.members: dict[str, MemberTimeline] = {}
        self.partition_members: dict[int, set[str]] = {}
        self.cohorts: dict[str, SettingsHistory] = {}
        self.quarters: dict[str, dict[int, DayEngagement]] = {}  # member → UTC quarter hour → what was done
        self.days: dict[str, dict[date, DayEngagement]] = {}      # member → local day → what was done
        self.last_activity: dict[str, datetime] = {}
        self.scored: dict[str, dict[str, symptoms.Scored]] = {}  # member → timepoint → QLQ-C30 scores
        # events of members not enrolled yet, bounded per member, in total and in time (common.waiting)
        self.early: WaitingRoom = waiting if waiting is not None else WaitingRoom()
        self.queue = CallQueue(dedup_window)
        # Notification keys, remembered for the dedup window only (services.common.dedup): a request older
        # than the window is never delivered (`expired`), so forgetting its key cannot resend it; a reminder
        # slot is never judged again once its tick is older than the window, so a skipped key may go too.
        self.requested = WindowedKeys(dedup_window)  # dedup keys requested on notifications.outbound
        self.done = WindowedKeys(dedup_window)       # dedup key → delivered | failed
        self.skipped = WindowedKeys(dedup_window)    # reminder keys recorded as notification.skipped
        self._pruned_at: datetime | None = None
        self.replays_done: set[UUID] = set()       # notification.replayed ids with an outcome
        self.ticks_done: dict[int, datetime] = {}  # partition → latest tick fully handled
        self.latest_tick: datetime | None = None
        # Erased members (docs/erasure.md): id → random pseudonym, in memory only, never snapshotted.
        self.aliases = Aliases()
        # Members whose follow-up ended long ago (`retire`): only their ids stay, so a late record of
        # theirs is ignored, as the rules ignore it for an ended follow-up, and never re-creates them.
        self.retired: set[str] = set()
        self.dedup_window = dedup_window

    # --- folding the log (idempotent; a bad record raises ValidationError / ValueError) ----------

    def fold_member(self, partition: int, value: bytes) -> None:
        event = parse_member_record(value)
        if isinstance(event, CohortConfigured):
            self.cohorts[event.cohort] = self.cohorts.get(event.cohort, SettingsHistory()).apply(event)
            return
        event = self._renamed(event)
        if event.member_id in self.retired:
            return
        known = self.members.get(event.member_id)
        timeline = apply_member_record(known, event)
        if timeline is None or timeline == known:
            return
        self.members[event.member_id] = timeline
        if isinstance(event, MemberEnrolled) and known is None:
            if not self.aliases.is_renamed(event.member_id):  # an erased member gets no decisions
                self.partition_members.setdefault(partition, set()).add(event.member_id)
            for _, early in self.early.pop(event.member_id):
                self._add_event(early)
        elif known is not None and timeline.zones != known.zones:
            self._rebucket(event.member_id, timeline)

    def _rebucket(self, member_id: str, timeline: MemberTimeline) -> None:
        days: dict[date, DayEngagement] = {}
        for index, done in self.quarters.get(member_id, {}).items():
            day = timeline.local_day(quarter_start(index))
            days[day] = rules.merge(days.get(day, NO_ENGAGEMENT), done)
        self.days[member_id] = days

    def fold_engagement(self, value: bytes, count_drop: bool = True) -> None:
        """`count_drop=False`: the record was folded before (see WaitingRoom.add)."""
        self._add_event(parse_recorded_event(value), count_drop)

    def _add_event(self, event, count_drop: bool = True) -> None:
        event = self._renamed(event)
        if event.member_id in self.retired:
            return  # after the follow-up's end: no rule reads it
        member = self.members.get(event.member_id)
        if member is None:
            self.early.add(event.member_id, str(event.event_id), event.occurred_at, event, count_drop)
            return
        index = int(event.occurred_at.timestamp()) // QUARTER_S
        quarters = self.quarters.setdefault(event.member_id, {})
        quarters[index] = rules.merge(quarters.get(index, NO_ENGAGEMENT), summarize_day([event]))
        rules.add_event(self.days.setdefault(event.member_id, {}), event, member.zones)
        if event.occurred_at > self.last_activity.get(event.member_id, event.occurred_at - timedelta(1)):
            self.last_activity[event.member_id] = event.occurred_at

    def fold_survey(self, value: bytes) -> None:
        """Keep the scored QLQ-C30 timepoints; the other survey steps are not the notifier's concern."""
        data = orjson.loads(value)
        if not isinstance(data, dict) or data.get("type") != "survey.scored":
            return
        event = SurveyScored.model_validate(data)
        if self.aliases.is_erased(event.member_id) or event.member_id in self.retired:
            return  # health data of an erased member: no decision needs it any more
        self.scored.setdefault(event.member_id, {})[event.timepoint] = symptoms.Scored(
            event.timepoint, event.occurred_at, event.scores.model_dump())

    def fold_notification(self, value: bytes) -> None:
        data = orjson.loads(value)
        kind = data.get("type") if isinstance(data, dict) else None
        if self.aliases and self.for_erased(data):
            return  # an erased member's message keys are forgotten with the member
        if kind == "notification.requested":
            note = NotificationRequested.model_validate(data)
            self.requested.add(note.dedup_key, note.occurred_at)
        elif kind == "notification.delivered":
            outcome = NotificationDelivered.model_validate(data)
            self.done.add(outcome.dedup_key, outcome.occurred_at, "delivered")
            self._replay_handled(outcome.replay_of)
        elif kind == "notification.failed":
            outcome = NotificationFailed.model_validate(data)
            if outcome.dedup_key not in self.done:  # first delivered wins over a failure
                self.done.add(outcome.dedup_key, outcome.occurred_at, "failed")
            self._replay_handled(outcome.replay_of)
        elif kind == "notification.skipped":
            skipped = NotificationSkipped.model_validate(data)
            self.skipped.add(skipped.dedup_key, skipped.occurred_at)

    def expired(self, note: NotificationRequested) -> bool:
        """A request older than the dedup window: its key may be forgotten, so it is never delivered."""
        return self.latest_tick is not None and note.occurred_at < self.latest_tick - self.done.window

    def _replay_handled(self, replay: UUID | None) -> None:
        if replay is not None:
            self.replays_done.add(replay)

    def delivery_due(self, dedup_key: str, replay: UUID | None = None) -> bool:
        """A request once per dedup_key; an operator's replay once, despite that dedup (rules.delivery_due)."""
        return rules.delivery_due(self.done.get(dedup_key), replay, self.replays_done)

    def delivery_handled(self, dedup_key: str, delivered: bool, at: datetime, replay: UUID | None = None) -> None:
        """Marked before the outcome is published: meanwhile nothing may send this key (or replay) again."""
        self.done.add(dedup_key, at, "delivered" if delivered else "failed")
        self._replay_handled(replay)

    def apply_alert(self, event: AlertEvent) -> bool:
        """Fold an alert step into the call queue; False when it was known already. A step of an erased
        member (read after the erasure) goes to the pseudonym's alert, its note unreadable."""
        pseudonym = self.aliases.member(event.member_id)
        if pseudonym is not None:
            update = {"member_id": pseudonym, "alert_id": self.aliases.id_for(event.alert_id)}
            if isinstance(event, CallLogged) and event.note:
                update["note"] = ERASED_TEXT
            event = event.model_copy(update=update)
        return self.queue.apply(event)

    # --- erasure (docs/erasure.md) --------------------------------------------------------------

    def erase(self, member_id: str) -> str:
        """Re-key the member to a random pseudonym: the timeline, days and alerts (with their statuses, so
        the cohort's open-alert counts stay) move to it; alert ids are replaced (they are derived from the
        id), notes read `[erased]`; the member's scores, waiting events and message keys are forgotten.
        The pseudonym gets no decision any more (no reminder, alert, escalation or resolution)."""
        pseudonym, _ = self.aliases.erase(member_id)
        self.retired.discard(member_id)  # a snapshot must never hold an erased id
        timeline = self.members.pop(member_id, None)
        if timeline is not None:
            self.members[pseudonym] = renamed_timeline(timeline, pseudonym)
        for members in self.partition_members.values():
            members.discard(member_id)
        for by_member in (self.quarters, self.days, self.last_activity):
            if member_id in by_member:
                by_member[pseudonym] = by_member.pop(member_id)
        self.scored.pop(member_id, None)
        self.early.pop(member_id)
        old_alerts = {str(a) for a in self.queue.rename_member(member_id, pseudonym, self.aliases.id_for)}
        named = old_alerts | {member_id}  # reminder keys name the member, alert message keys the alert

        def concerns(key: str) -> bool:
            return not named.isdisjoint(key.split("|"))

        for keys in (self.requested, self.done, self.skipped):
            keys.discard_where(concerns)
        return pseudonym

    def for_erased(self, message: dict) -> bool:
        """Does a notifications.outbound record concern an erased member (its recipient, or the member
        an alert message names)?"""
        request = message.get("request") if isinstance(message.get("request"), dict) else message
        data = request.get("data") if isinstance(request.get("data"), dict) else {}
        return any(self.aliases.is_erased(str(m)) for m in (message.get("recipient"), request.get("recipient"),
                                                          data.get("member_id")) if m)

    def _renamed(self, record):
        """The record as the state keeps it: an erased member's id replaced by the pseudonym."""
        pseudonym = self.aliases.member(record.member_id)
        return record if pseudonym is None else record.model_copy(update={"member_id": pseudonym})

    def tick_handled(self, partition: int, now: datetime) -> None:
        if self.latest_tick is None or now > self.latest_tick:
            self.latest_tick = now
        if partition not in self.ticks_done or now > self.ticks_done[partition]:
            self.ticks_done[partition] = now
        if self._pruned_at is None or now - self._pruned_at >= timedelta(hours=1):  # hourly is plenty
            self._pruned_at = now
            self.requested.prune(self.latest_tick)
            self.done.prune(self.latest_tick)
            self.skipped.prune(self.latest_tick)
            self.queue.prune(self.latest_tick)
            self.early.expire(self.latest_tick)
            self.retire(self.latest_tick)

    def retire(self, now: datetime) -> list[str]:
        """Drop the members whose follow-up ended with their cohort (its `ends_on` passed) more than the dedup
        window (the accepted lateness and a margin) before `now` and who have no unresolved alert:
        no record that could still arrive changes a decision of theirs (docs/scale.md, "Retiring ended
        members"). A withdrawn member of a running cohort stays: a re-enrolment may continue the
        follow-up. One pass over the members still held; retired ones are not looked at again."""
        out = []
        for member_id, member in list(self.members.items()):
            if self.aliases.is_renamed(member_id):
                continue  # an erased member's pseudonym is no id to keep
            # the cohort's end, not a withdrawal: until the cohort ends a re-enrolment may reopen follow-up
            ends_on = self.settings_of(member.cohort).latest.ends_on
            if ends_on is None or now - member.zones.day_end(ends_on) <= self.dedup_window:
                continue
            if any(self.queue.unresolved_of(member_id, kind) for kind in ("inactivity", "symptom")):
                continue  # the alert must still be resolved
            out.append(member_id)
        for member_id in out:
            del self.members[member_id]
            for by_member in (self.quarters, self.days, self.last_activity, self.scored):
                by_member.pop(member_id, None)
            for members in self.partition_members.values():
                members.discard(member_id)
            self.early.pop(member_id)
            self.retired.add(member_id)
        return out

    # --- snapshots (docs/scale.md, "Snapshots and restarts") -----------------------------------

    # Bump when the dict below changes (the codec also notices changed classes by their fields).
    SNAPSHOT_VERSION = "notifier-4"
    _SNAPSHOT_PLAIN = ("members", "partition_members", "cohorts", "quarters", "days", "last_activity", "scored",
                       "queue", "replays_done", "retired")

    def to_snapshot(self) -> dict:
        """Everything folded from the log tail's topics: not the settings the process was started with,
        and not what the clock ticks set (`latest_tick`, `ticks_done`): ticks are not a tail topic, so a
        restored state knows no tick until one arrives, exactly like a state replayed from offset 0."""
        out = {name: getattr(self, name) for name in self._SNAPSHOT_PLAIN}
        return out | {"early": self.early.to_snapshot(), "requested": self.requested.to_snapshot(),
                      "done": self.done.to_snapshot(), "skipped": self.skipped.to_snapshot(),
                      "renamed": self.aliases.renamed()}  # erased members' pseudonyms only: never an id

    def restore(self, data: dict) -> None:
        """Take over a `to_snapshot` dict (decoded by the snapshot codec) into this fresh state."""
        for name in self._SNAPSHOT_PLAIN:
            setattr(self, name, data[name])
        self.early.restore(data["early"])
        self.requested.restore(data["requested"])
        self.done.restore(data["done"])
        self.skipped.restore(data["skipped"])
        self.aliases.adopt(data["renamed"])  # their alerts stay closed to staff actions, no decision

    # --- reading --------------------------------------------------------------------------------

    def now(self) -> datetime:
        """"Now" for staff actions: the latest clock.tick (time is an event); wall clock before any tick."""
        return self.latest_tick or datetime.now(timezone.utc)

    def settings_of(self, cohort: str) -> SettingsHistory:
        return self.cohorts.get(cohort, DEFAULT_SETTINGS)

    def overdue(self) -> tuple[int, int]:
        """(escalation due, escalated and still unacknowledged) among open alerts at the latest tick."""
        first = escalated = 0
        if self.latest_tick is None:
            return 0, 0
        for view in self.queue.unresolved():
            if view.status != "open":
                continue
            if view.escalated_at is not None:
                escalated += 1
            elif rules.escalation_due(view.raised_at, self.latest_tick, self.escalate_after):
                first += 1
        return first, escalated

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
        first = member.follow_up.first_enrolled_on
        if self.latest_tick is not None:
            today = member.local_day(self.latest_tick)
        else:
            today = max([*days, *([through + timedelta(days=1)] if through else [])], default=first)
        for back in range(days_back, -1, -1):
            day = today - timedelta(days=back)
            if day < first:
                continue
            e = days.get(day, NO_ENGAGEMENT)
            tasks = cohort.settings_on(day).tasks
            out["recent_days"].append({"day": day.isoformat(), "logged_in": e.logged_in,
                                       "participated": e.participated(tasks), "completed": e.completed(tasks),
                                       "tasks_done": sorted(e.tasks_done), "in_follow_up": member.in_follow_up(day)})
        out["timezone"] = member.zones.zone_on(today)
        return out

    def member_day(self, member_id: str, now: datetime) -> dict | None:
        """What a member sees of their own day at `now` (their local day): the tasks in force that day
        and which are done, and the day's reminder times with whether each was sent. None: not enrolled."""
        member = self.members.get(member_id)
        if member is None:
            return None
        cohort = self.settings_of(member.cohort)
        today = member.local_day(now)
        settings = cohort.settings_on(today)
        done = self.days.get(member_id, {}).get(today, NO_ENGAGEMENT)
        reminders = []
        for slot in sorted(settings.reminder_times):
            key = rules.Reminder(member_id, member.cohort, today, slot, ()).dedup_key
            reminders.append({"at": slot.strftime("%H:%M"), "sent": key in self.requested,
                              "passed": member.zones.at(today, slot) <= now})
        return {"member_id": member_id, "day": today.isoformat(), "timezone": member.zones.zone_on(today),
                "in_follow_up": member.in_follow_up(today, cohort.latest.ends_on), "logged_in": done.logged_in,
                "tasks": [{"task": task, "done": task in done.tasks_done} for task in settings.tasks],
                "reminders": reminders}

    def member_panel(self, member_id: str, days_back: int = 28) -> dict:
        """What a nurse reads before a call: the last `days_back` days (logins, tasks), the scored
        QLQ-C30 timepoints, and the member's alerts with their call outcomes (never the notes)."""
        panel = self.engagement_of(member_id, days_back=days_back)
        scored = sorted(self.scored.get(member_id, {}).values(), key=lambda s: s.at)
        panel["questionnaires"] = [{"timepoint": s.timepoint, "at": s.at.isoformat(), "scores": dict(s.scores)}
                                   for s in scored]
        alerts = sorted((v for v in self.queue.alerts.values() if v.member_id == member_id),
                        key=lambda v: v.raised_at)
        panel["alerts"] = [{"alert_id": str(v.alert_id), "kind": v.kind, "raised_at": v.raised_at.isoformat(),
                            "status": v.status, "resolved_reason": v.resolved_reason,
                            "calls": [{"at": c.at.isoformat(), "by": c.by, "outcome": c.outcome} for c in v.calls]}
                           for v in alerts]
        return panel

    # --- decisions on a clock tick --------------------------------------------------------------

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
            self._decide_inactivity(member, cohort, days, now, events, notes, extra_load)
            self._decide_symptom(member, cohort, now, events, notes, extra_load)
            notes += self.skipped_slots(member, cohort, days, now)
            reminder = rules.reminder_for(member, cohort, days, now, self.grace)
            if (
                reminder is not None
                and reminder.dedup_key not in self.requested
                and reminder.dedup_key not in self.skipped
            ):
                notes.append(NotificationRequested(
                    event_id=rules.stable_id("note", reminder.dedup_key), dedup_key=reminder.dedup_key,
                    kind="reminder", channel="push", recipient=member_id, cohort=member.cohort,
                    title=reminder.title, body=reminder.body, occurred_at=now,
                    data={"day": reminder.day.isoformat(), "slot": reminder.slot.strftime("%H:%M"),
                          "remaining": ",".join(reminder.remaining)}))
        return notes, events

    def _decide_inactivity(self, member, cohort, days, now, events, notes, extra_load) -> None:
        member_id = member.member_id
        view = self.queue.unresolved_of(member_id, "inactivity")
        if view is not None:
            reason = rules.resolution(view.rule, view.through, member, cohort, days, now)
            self._resolve_or_escalate(view, reason, cohort, now, events, notes)
            return
        finding = rules.evaluate(member, cohort, days, now)
        if finding is not None and finding.alert_id not in self.queue.alerts:
            self._raise(dict(
                alert_id=finding.alert_id, member_id=member_id, cohort=member.cohort, rule=finding.rule,
                since=finding.since, through=finding.through, missed_days=finding.missed_days,
                window_days=finding.window_days, last_login_on=finding.last_login_on), cohort, now, events, notes,
                extra_load)

    def _decide_symptom(self, member, cohort, now, events, notes, extra_load) -> None:
        member_id = member.member_id
        scored = list(self.scored.get(member_id, {}).values())
        view = self.queue.unresolved_of(member_id, "symptom")
        if view is not None:
            judged = self.scored.get(member_id, {}).get(view.timepoint or "")
            judged_at = judged.at if judged is not None else view.raised_at
            reason = symptoms.resolution(judged_at, member, cohort, scored, now)
            self._resolve_or_escalate(view, reason, cohort, now, events, notes)
            return
        finding = symptoms.evaluate(member, cohort, scored, now)
        if finding is not None and finding.alert_id not in self.queue.alerts:
            self._raise(dict(
                alert_id=finding.alert_id, member_id=member_id, cohort=member.cohort, kind="symptom",
                rule=symptoms.RULE, since=member.local_day(finding.episode_start.at),
                through=member.local_day(finding.judged.at), missed_days=0, window_days=1,
                last_login_on=None, timepoint=finding.judged.timepoint, scales=finding.scales),
                cohort, now, events, notes, extra_load)

    def _resolve_or_escalate(self, view, reason, cohort, now, events, notes) -> None:
        if reason is not None:
            events.append(AlertResolved(event_id=rules.stable_id("resolved", view.alert_id), alert_id=view.alert_id,
                                        member_id=view.member_id, cohort=view.cohort, occurred_at=now,
                                        reason=reason))
        elif view.status == "open" and view.escalated_at is None \
                and rules.escalation_due(view.raised_at, now, self.escalate_after):
            lead = cohort.latest.lead_nurse
            events.append(AlertEscalated(event_id=rules.stable_id("escalated", view.alert_id), alert_id=view.alert_id,
                                         member_id=view.member_id, cohort=view.cohort, occurred_at=now,
                                         assigned_to=view.assigned_to, lead_nurse=lead))
            notes += self.alert_notes("alert_escalated", view, now, lead)

    def _raise(self, fields: dict, cohort, now, events, notes, extra_load: Counter) -> None:
        """Raise an alert assigned to the least-loaded cohort nurse (alerts raised earlier in this
        decision count too)."""
        nurse = rules.pick_nurse(cohort.latest.nurses, self.queue.unresolved_counts(fields["cohort"]) + extra_load)
        if nurse:
            extra_load[nurse] += 1
        raised = AlertRaised(event_id=rules.stable_id("raised", fields["alert_id"]), occurred_at=now,
                             assigned_to=nurse, **fields)
        events.append(raised)
        notes += self.alert_notes("alert_raised", raised, now, None)

    def skipped_slots(self, member: rules.Member, cohort: SettingsHistory, days, now: datetime
                      ) -> list[NotificationSkipped]:
        """Reminder slots passed and never to be sent, not recorded yet (docs/clock.md, grace window)."""
        return [NotificationSkipped(
            event_id=rules.stable_id("skipped", slot.dedup_key), dedup_key=slot.dedup_key, kind="reminder",
            recipient=slot.member_id, cohort=slot.cohort, due_at=slot.due_at, reason=slot.reason, occurred_at=now)
            for slot in rules.missed_slots(member, cohort, days, now, self.grace)
            if slot.dedup_key not in self.requested and slot.dedup_key not in self.skipped]

    def alert_notes(self, kind: str, alert, now: datetime, lead: str | None) -> list[NotificationRequested]:
        """E-mail to the assigned nurse (and on escalation to the lead nurse), plus the staff webhook."""
        escalated = kind == "alert_escalated"
        title = ("ESCALATED: " if escalated else "") + f"Call member {alert.member_id} (cohort {alert.cohort})"
        # A symptom alert's scores stay in the call queue (authorised staff): the message names no scale.
        problem = (f"Member {alert.member_id} reported clinically important QLQ-C30 scores at {alert.timepoint} "
                   f"({len(alert.scales)} scales). " if getattr(alert, "kind", "inactivity") == "symptom" else
                   f"Member {alert.member_id} is inactive: {alert.missed_days} of the last {alert.window_days} "
                   f"follow-up days without a login (through {alert.through}). ")
        body = (problem
                + ("Not acknowledged within 24 h. " if escalated else "")
                + "Open the call queue to acknowledge and log the call.")
        data = {"alert_id": str(alert.alert_id), "member_id": alert.member_id}
        recipients = [("email", r) for r in dict.fromkeys(x for x in (alert.assigned_to, lead) if x)]
        if self.nurse_webhook:
            recipients.append(("webhook", alert.assigned_to or alert.cohort))
        out = []
        for channel, recipient in recipients:
            key = f"{kind}|{alert.alert_id}|{channel}|{recipient}"
            out.append(NotificationRequested(
                event_id=rules.stable_id("note", key), dedup_key=key, kind=kind, channel=channel, recipient=recipient,
                cohort=alert.cohort, title=title, body=body, data=data, occurred_at=now))
        return out
