"""The survey book: every invitation's state, folded from `surveys` events — and the processor's
decisions (enrolment → schedule, withdrawal → cancel, tick → invite/remind/expire) as events.

Nothing here touches a broker or a clock: the stream processor feeds member events and ticks in,
publishes the returned events, and the same events folded back (`apply`, idempotent by event_id)
rebuild the book after a restart. `surveys` is the system of record of the schedule, so the book
never depends on faust changelog recovery (tansu's ListOffsets bug; docs/architecture.md).

Member time (docs/timeline.md) comes from the `members` records folded into `members` (timelines):
the schedule counts from the first enrolment, so a re-enrolment adds nothing; a withdrawal takes
effect on its date — sent invitations are cancelled by the first tick on or after it (at once when
the latest tick is already past it), and an invitation falling due on a day outside follow-up is
cancelled instead of sent (one due after a re-enrolment goes out); step times follow the member's
zone history.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from uuid import UUID

from contracts.members import MemberEnrolled, MemberTimezoneChanged, MemberWithdrawn
from contracts.notifications import NotificationRequested
from contracts.surveys import (
    SurveyCancelled,
    SurveyExpired,
    SurveyInvited,
    SurveyPlan,
    SurveyReminded,
    SurveyResponded,
    SurveyScheduled,
    SurveyScored,
)
from contracts.timeline import MemberTimeline, apply_member_record
from services.common.dedup import SeenIds
from services.common.pseudonyms import Aliases, renamed_timeline

from .answers import erased as erased_answers
from .schedule import (
    OPEN,
    Status,
    StepTimes,
    due_day,
    due_steps,
    next_step_at,
    schedule,
    step_event_id,
    step_times,
)

SurveyStepEvent = (SurveyScheduled | SurveyInvited | SurveyReminded | SurveyExpired | SurveyCancelled
                   | SurveyResponded | SurveyScored)

TITLES = {"qlq_c30": "Your quality-of-life questionnaire", "experience": "How was your CareCircle experience?"}


@dataclass
class Invitation:
    scheduled: SurveyScheduled
    partition: int | None = None
    status: Status = "scheduled"
    invited_at: datetime | None = None
    reminders_sent: int = 0
    closed_at: datetime | None = None
    response: SurveyResponded | None = None
    scored: SurveyScored | None = None

    @property
    def id(self) -> UUID:
        return self.scheduled.invitation_id

    def header(self) -> dict:
        s = self.scheduled
        return dict(invitation_id=s.invitation_id, member_id=s.member_id, cohort=s.cohort,
                    instrument=s.instrument, timepoint=s.timepoint)


@dataclass
class SurveyBook:
    plan: SurveyPlan = field(default_factory=SurveyPlan)
    invitations: dict[UUID, Invitation] = field(default_factory=dict)
    by_member: dict[str, list[UUID]] = field(default_factory=dict)
    open_ids: set[UUID] = field(default_factory=set)
    # event ids folded, for the dedup window only (services.common.dedup): a step or response is
    # re-delivered within minutes of its first copy, far inside the window
    seen: SeenIds = field(default_factory=SeenIds)
    now: datetime | None = None  # latest clock.tick seen
    # Per partition, a heap of (time of the invitation's next step, id): a tick pops only what is
    # due instead of scanning every open invitation (entries go stale lazily; `_queued` is the truth).
    _heaps: dict[int | None, list[tuple[datetime, UUID]]] = field(default_factory=dict)
    _queued: dict[UUID, datetime] = field(default_factory=dict)
    members: dict[str, MemberTimeline] = field(default_factory=dict)
    # Erased members (docs/erasure.md): id → random pseudonym, in memory only, never snapshotted.
    aliases: Aliases = field(default_factory=Aliases)
    # Members whose every invitation closed long ago (`retire`): only their ids stay, so a late or
    # re-delivered record of theirs (an enrolment: a new schedule) is ignored instead of re-creating them.
    retired: set[str] = field(default_factory=set)
    _retired_at: datetime | None = None

    # --- snapshots (docs/scale.md, "Snapshots and restarts") -----------------------------------

    SNAPSHOT_VERSION = "survey-4"  # bump when the dict below changes
    _SNAPSHOT_FIELDS = ("invitations", "by_member", "open_ids", "_heaps", "_queued", "members", "retired")

    def to_snapshot(self) -> dict:
        """Everything folded from `surveys` and `members`: not the plan (a setting of the running process)
        and not `now` (set by clock ticks, which the tail does not read: a restored book knows no tick until
        one arrives, like a book replayed from offset 0)."""
        # erased members' pseudonyms (never an id, never the id → pseudonym map): still frozen once restored
        return {name: getattr(self, name) for name in self._SNAPSHOT_FIELDS} | {
            "renamed": self.aliases.renamed(), "seen": self.seen.to_snapshot()}  # its window: a setting

    def restore(self, data: dict) -> None:
        for name in self._SNAPSHOT_FIELDS:
            setattr(self, name, data[name])
        self.seen.restore(data["seen"])
        self.aliases.adopt(data["renamed"])

    def times(self, inv: Invitation) -> StepTimes | SurveyScheduled:
        member = self.members.get(inv.scheduled.member_id)
        return step_times(inv.scheduled, self.plan, member.zones if member else None)

    def _withdrawal_starts(self, inv: Invitation) -> datetime | None:
        """When a recorded withdrawal takes effect for a sent invitation (None: no withdrawal). Invitations
        not sent yet wait for their due time: a re-enrolment before it lets them go out after all."""
        member = self.members.get(inv.scheduled.member_id)
        if member is None or inv.status != "invited" or not member.follow_up.is_withdrawn:
            return None
        return member.zones.day_start(member.follow_up.withdrawn_on)

    def _withdrawn_at(self, inv: Invitation, now: datetime) -> bool:
        """Is the member outside follow-up (withdrawn) today, or on the day this invitation is due?"""
        member = self.members.get(inv.scheduled.member_id)
        if member is None:
            return False
        withdrawn = member.follow_up.withdrawn_on_day
        return withdrawn(member.local_day(now)) or (inv.status == "scheduled" and withdrawn(due_day(inv.scheduled)))

    def _requeue(self, inv: Invitation) -> None:
        if self.aliases.is_renamed(inv.scheduled.member_id):  # an erased member's invitations take no step
            self._queued.pop(inv.id, None)
            return
        at = next_step_at(self.times(inv), inv.status, inv.reminders_sent, inv.invited_at)
        withdrawal = self._withdrawal_starts(inv)
        if withdrawal is not None:
            at = withdrawal if at is None else min(at, withdrawal)
        if at is None:
            self._queued.pop(inv.id, None)
        elif self._queued.get(inv.id) != at:
            self._queued[inv.id] = at
            heapq.heappush(self._heaps.setdefault(inv.partition, []), (at, inv.id))

    # --- the fold ------------------------------------------------------------------------------

    def apply(self, event: SurveyStepEvent, partition: int | None = None) -> bool:
        """Fold one `surveys` event in; False when it was already applied (same event_id)."""
        if not self.seen.add(event.event_id, event.occurred_at):
            return False
        event = self._renamed(event)
        if isinstance(event, SurveyScheduled):
            if event.invitation_id not in self.invitations and event.member_id not in self.retired:
                inv = self.invitations[event.invitation_id] = Invitation(event, partition)
                self.by_member.setdefault(event.member_id, []).append(event.invitation_id)
                if not self.aliases.is_renamed(event.member_id):
                    self.open_ids.add(event.invitation_id)
                self._requeue(inv)
            return True
        inv = self.invitations.get(event.invitation_id)
        if inv is None:  # a step of an invitation never scheduled: nothing to fold it into
            return True
        if inv.partition is None and partition is not None:
            inv.partition = partition
            self._queued.pop(inv.id, None)  # re-file it under its partition
        if isinstance(event, SurveyInvited) and inv.status == "scheduled":
            inv.status, inv.invited_at = "invited", event.occurred_at
        elif isinstance(event, SurveyReminded):
            inv.reminders_sent = max(inv.reminders_sent, event.reminder)
        elif isinstance(event, SurveyExpired | SurveyCancelled) and inv.status in OPEN:
            inv.status = "expired" if isinstance(event, SurveyExpired) else "cancelled"
            inv.closed_at = event.occurred_at
        elif isinstance(event, SurveyResponded) and inv.response is None:
            # The API accepts a response only while the invitation is open; should an expiry or
            # cancellation race ahead of it in the log, the accepted answer still counts.
            inv.response, inv.status, inv.closed_at = event, "responded", event.occurred_at
        elif (
            isinstance(event, SurveyScored)
            and inv.response is not None
            and inv.response.response_id == event.response_id
        ):
            inv.scored = event
        if inv.status not in OPEN:
            self.open_ids.discard(inv.id)
        self._requeue(inv)
        return True

    def apply_all(self, events: Iterable[SurveyStepEvent], partition: int | None = None) -> list[SurveyStepEvent]:
        return [e for e in events if self.apply(e, partition)]

    # --- decisions: the new events, folded in unless commit=False (then the caller publishes them
    # first and folds them after the broker acknowledged, so a failed publish changes nothing) ---

    def fold_member(self, record: MemberEnrolled | MemberWithdrawn | MemberTimezoneChanged) -> MemberTimeline | None:
        """Fold a member record into the member's timeline (idempotent); re-time their open invitations."""
        record = self._renamed(record)
        if record.member_id in self.retired:
            return None  # every step of theirs is closed: a member record changes none
        known = self.members.get(record.member_id)
        timeline = apply_member_record(known, record)
        if timeline is not None and timeline is not known:
            self.members[record.member_id] = timeline
            for inv in self.member_invitations(record.member_id):
                if inv.status in OPEN:
                    self._requeue(inv)
        return timeline

    def on_enrolled(self, enrolment: MemberEnrolled, partition: int | None = None,
                    commit: bool = True) -> list[SurveyStepEvent]:
        """The schedule of the member's first enrolment (a re-enrolment continues it: nothing new)."""
        if self.aliases.is_erased(enrolment.member_id):
            return []  # an old enrolment processed again after the erasure: no schedule for the pseudonym
        timeline = self.fold_member(enrolment)
        if timeline is None or timeline.cohort != enrolment.cohort:
            return []
        events: list[SurveyStepEvent] = [s for s in schedule(timeline.first_enrolment, self.plan)
                                         if s.invitation_id not in self.invitations]
        return self.apply_all(events, partition) if commit else events

    def on_withdrawn(self, withdrawal: MemberWithdrawn, partition: int | None = None,
                     commit: bool = True) -> list[SurveyStepEvent]:
        """Cancel the sent invitations once the withdrawal is in effect: now, when the latest tick is
        already on or after its date in the member's zone; otherwise the first tick from that date on
        does. Invitations not sent yet are cancelled when they fall due on a day outside follow-up."""
        if self.aliases.is_erased(withdrawal.member_id):
            return []
        timeline = self.fold_member(withdrawal)
        if (
            timeline is None
            or self.now is None
            or not timeline.follow_up.withdrawn_on_day(timeline.local_day(self.now))
        ):
            return []
        events = [
            SurveyCancelled(event_id=step_event_id(inv.id, "cancelled"), occurred_at=withdrawal.occurred_at,
                            reason="withdrawn", **inv.header())
            for inv in self.member_invitations(withdrawal.member_id) if inv.status == "invited"
        ]
        return self.apply_all(events, partition) if commit else events

    def on_tick(self, now: datetime, partition: int | None = None, commit: bool = True) -> list[SurveyStepEvent]:
        """Steps due at `now` for the invitations of `partition` (all when None)."""
        if self.now is None or now > self.now:
            self.now = now
        self.seen.prune(self.now)
        if self._retired_at is None or self.now - self._retired_at >= timedelta(hours=1):  # hourly is plenty
            self._retired_at = self.now
            self.retire(self.now)
        events: list[SurveyStepEvent] = []
        due: list[Invitation] = []
        for key in ([partition, None] if partition is not None else list(self._heaps)):
            heap = self._heaps.get(key, [])
            while heap and heap[0][0] <= now:
                at, inv_id = heapq.heappop(heap)
                if self._queued.get(inv_id) != at:
                    continue  # stale entry: the invitation moved on or was re-filed
                del self._queued[inv_id]
                due.append(self.invitations[inv_id])
        for inv in due:
            self._requeue(inv)  # until its events are folded in, it stays due
        for inv in sorted(due, key=lambda i: (i.scheduled.member_id, i.scheduled.due_at)):
            if partition is not None and inv.partition is not None and inv.partition != partition:
                continue
            if inv.status in OPEN and self._withdrawn_at(inv, now):
                events.append(SurveyCancelled(event_id=step_event_id(inv.id, "cancelled"), occurred_at=now,
                                              reason="withdrawn", **inv.header()))
                continue
            for step in due_steps(self.times(inv), inv.status, inv.reminders_sent, now, inv.invited_at):
                if step.kind == "invite":
                    events.append(SurveyInvited(event_id=step_event_id(inv.id, "invited"), occurred_at=now,
                                                expires_at=self.times(inv).expires_at, **inv.header()))
                elif step.kind == "remind":
                    events.append(SurveyReminded(event_id=step_event_id(inv.id, f"reminded:{step.number}"),
                                                 occurred_at=now, reminder=step.number, **inv.header()))
                else:
                    events.append(SurveyExpired(event_id=step_event_id(inv.id, "expired"), occurred_at=now,
                                                **inv.header()))
        return self.apply_all(events, partition) if commit else events

    def retire(self, now: datetime) -> list[str]:
        """Drop the members whose every invitation closed (responded, expired or cancelled) more than the
        dedup window (the accepted lateness and a margin) before `now`: no step is due for them and no
        record that could still arrive changes one (docs/scale.md, "Retiring ended members"). Their
        answered experience survey stays (staff read it), nothing else. One pass over the members held."""
        window = self.seen.window
        out = []
        for member_id, ids in self.by_member.items():
            if member_id in self.retired or self.aliases.is_renamed(member_id):
                continue
            invitations = [self.invitations[i] for i in ids]
            if all(inv.status not in OPEN and inv.id not in self._queued and inv.closed_at is not None
                   and now - inv.closed_at > window for inv in invitations):
                out.append(member_id)
        for member_id in out:
            kept = []
            for inv_id in self.by_member.pop(member_id):
                inv = self.invitations[inv_id]
                if inv.scheduled.instrument == "experience" and inv.response is not None:
                    kept.append(inv_id)
                else:
                    del self.invitations[inv_id]
            if kept:
                self.by_member[member_id] = kept
            self.members.pop(member_id, None)
            self.retired.add(member_id)
        return out

    # --- erasure (docs/erasure.md) --------------------------------------------------------------

    def erase(self, member_id: str) -> str:
        """Re-key the member to a random pseudonym: the timeline and every invitation (status and dates
        kept, so response and completion counts stay) move to it; invitation and response ids are
        replaced (they are derived from the member id); free-text answers read `[erased]`. The
        pseudonym's invitations take no further step."""
        pseudonym, _ = self.aliases.erase(member_id)
        self.retired.discard(member_id)  # a snapshot must never hold an erased id
        timeline = self.members.pop(member_id, None)
        if timeline is not None:
            self.members[pseudonym] = renamed_timeline(timeline, pseudonym)
        for old in self.by_member.pop(member_id, []):
            inv = self.invitations.pop(old)
            self.open_ids.discard(old)
            self._queued.pop(old, None)
            inv.scheduled = self._renamed(inv.scheduled)
            inv.response = self._renamed(inv.response) if inv.response else None
            inv.scored = self._renamed(inv.scored) if inv.scored else None
            self.invitations[inv.id] = inv
            self.by_member.setdefault(pseudonym, []).append(inv.id)
        return pseudonym

    def _renamed(self, record):
        """The record as the book keeps it: an erased member's ids replaced, answers unreadable."""
        pseudonym = self.aliases.member(record.member_id)
        if pseudonym is None:
            return record
        update: dict = {"member_id": pseudonym}
        if hasattr(record, "invitation_id"):
            update["invitation_id"] = self.aliases.id_for(record.invitation_id)
        if isinstance(record, SurveyResponded | SurveyScored):
            update["response_id"] = self.aliases.id_for(record.response_id)
        if isinstance(record, SurveyResponded):
            update["answers"] = erased_answers(record.answers)
        return record.model_copy(update=update)

    # --- reads ---------------------------------------------------------------------------------

    def member_invitations(self, member_id: str) -> list[Invitation]:
        return [self.invitations[i] for i in self.by_member.get(member_id, ())]

    def pending(self, member_id: str) -> list[Invitation]:
        """Invitations the member can answer now: sent, not answered, not expired or cancelled."""
        return [inv for inv in self.member_invitations(member_id)
                if inv.status == "invited" and not self.past_expiry(inv)]

    def past_expiry(self, inv: Invitation) -> bool:
        return inv.status == "expired" or (self.now is not None and self.now >= self.times(inv).expires_at)

    def experience_responses(self, cohort: str) -> list[Invitation]:
        return sorted(
            (inv for inv in self.invitations.values()
             if inv.scheduled.cohort == cohort and inv.scheduled.instrument == "experience" and inv.response),
            key=lambda inv: (inv.response.occurred_at, inv.scheduled.member_id),
        )


def notification_for(event: SurveyStepEvent) -> NotificationRequested | None:
    """The push message the notifier delivers for an invitation or reminder (None for other steps).
    `dedup_key` is stable per step, so a re-processed tick never notifies twice."""
    if not isinstance(event, SurveyInvited | SurveyReminded):
        return None
    step = "invited" if isinstance(event, SurveyInvited) else f"reminder:{event.reminder}"
    kind = "survey_invitation" if isinstance(event, SurveyInvited) else "survey_reminder"
    title = TITLES[event.instrument]
    body = ("A short questionnaire is waiting for you in CareCircle." if isinstance(event, SurveyInvited)
            else "Friendly reminder: your questionnaire is still open in CareCircle.")
    return NotificationRequested(
        event_id=step_event_id(event.invitation_id, f"notify:{step}"),
        dedup_key=f"survey|{event.invitation_id}|{step}", kind=kind, channel="push",
        recipient=event.member_id, cohort=event.cohort, title=title, body=body,
        data={"invitation_id": str(event.invitation_id), "instrument": event.instrument,
              "timepoint": event.timepoint},
        occurred_at=event.occurred_at,
    )
