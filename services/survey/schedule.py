"""Questionnaire schedule rules — pure functions of (enrolment, plan, invitation state, now).

* On enrolment every questionnaire of the plan gets a `survey.scheduled` step: QLQ-C30 on follow-up
  days 1 (T0), 14 (T1), 28 (T2) and the experience survey on day 29 (`SurveyPlan`, service settings).
* Each step happens at the plan's `invite_time` on a *local* day of the member (IANA zone, DST-aware):
  invitation on the due day, reminders 1 and 3 days later, expiry 7 days later — all at the same
  local wall-clock time.
* `due_steps` says what a `clock.tick` at `now` makes due. A tick that jumps over several step
  times sends what still makes sense: nothing but the expiry once an invitation is past its expiry,
  only the latest reminder that is due (never a burst of stale reminders), and no reminder whose
  time had passed before the invitation went out.
* Ids are deterministic (uuid5), so re-processing an enrolment or a tick re-creates the same events.
* Member time follows docs/timeline.md: the schedule counts from the *first* enrolment (a re-enrolment
  continues it; T0 is not issued again), and once the member's zone history is known each step's time
  is read on the wall clock of the zone its day is lived in (`step_times`), so a zone change moves
  the steps of later days and never those of earlier ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Literal
from uuid import NAMESPACE_URL, UUID, uuid5
from zoneinfo import ZoneInfo

from contracts.members import MemberEnrolled
from contracts.surveys import Instrument, SurveyPlan, SurveyScheduled, Timepoint
from contracts.timeline import ZoneHistory

NAMESPACE = uuid5(NAMESPACE_URL, "https://carecircle.example/surveys")


def local_moment(day: date, at: time, zone: str) -> datetime:
    """`at` o'clock on local `day` in `zone`, as an aware UTC datetime. In a DST gap the wall time
    is read with the offset before the transition (zoneinfo's fold=0), e.g. 02:30 → 03:30."""
    local = datetime.combine(day, at, tzinfo=ZoneInfo(zone))
    return local.astimezone(timezone.utc)


def invitation_id(member_id: str, cohort: str, enrolled_on: date, instrument: Instrument, timepoint: Timepoint) -> UUID:
    return uuid5(NAMESPACE, f"{member_id}|{cohort}|{enrolled_on.isoformat()}|{instrument}|{timepoint}")


def step_event_id(invitation: UUID, step: str) -> UUID:
    """Deterministic event id of one step of an invitation ("scheduled", "invited", "reminded:1", …)."""
    return uuid5(invitation, step)


def questionnaires(plan: SurveyPlan) -> list[tuple[Instrument, Timepoint, int]]:
    """(instrument, timepoint, follow-up day) of every questionnaire of the plan, by due day."""
    items: list[tuple[Instrument, Timepoint, int]] = [("qlq_c30", tp, day) for tp, day in plan.qlq_c30_days.items()]
    items.append(("experience", "post", plan.experience_day))
    return sorted(items, key=lambda x: x[2])


def schedule(enrolment: MemberEnrolled, plan: SurveyPlan) -> list[SurveyScheduled]:
    """The `survey.scheduled` steps for one enrolment (pure; deterministic ids)."""
    steps = []
    for instrument, timepoint, day in questionnaires(plan):
        due_day = enrolment.enrolled_on + timedelta(days=day - 1)
        inv = invitation_id(enrolment.member_id, enrolment.cohort, enrolment.enrolled_on, instrument, timepoint)
        steps.append(SurveyScheduled(
            event_id=step_event_id(inv, "scheduled"), invitation_id=inv, member_id=enrolment.member_id,
            cohort=enrolment.cohort, instrument=instrument, timepoint=timepoint,
            occurred_at=enrolment.occurred_at, timezone=enrolment.timezone, enrolled_on=enrolment.enrolled_on,
            follow_up_day=day,
            due_at=local_moment(due_day, plan.invite_time, enrolment.timezone),
            reminders_at=tuple(local_moment(due_day + timedelta(days=k), plan.invite_time, enrolment.timezone)
                               for k in plan.reminder_after_days),
            expires_at=local_moment(due_day + timedelta(days=plan.expire_after_days), plan.invite_time,
                                    enrolment.timezone),
        ))
    return steps


@dataclass(frozen=True)
class StepTimes:
    """When an invitation's steps happen (the attributes `due_steps` reads, as on SurveyScheduled)."""

    due_at: datetime
    reminders_at: tuple[datetime, ...]
    expires_at: datetime


def due_day(scheduled: SurveyScheduled) -> date:
    return scheduled.enrolled_on + timedelta(days=scheduled.follow_up_day - 1)


def step_times(scheduled: SurveyScheduled, plan: SurveyPlan, zones: ZoneHistory | None) -> StepTimes | SurveyScheduled:
    """The step times under the member's zone history (the scheduled record's own times without one)."""
    if zones is None:
        return scheduled
    day = due_day(scheduled)

    def at(offset: int) -> datetime:
        return zones.at(day + timedelta(days=offset), plan.invite_time).astimezone(timezone.utc)

    return StepTimes(at(0), tuple(at(k) for k in plan.reminder_after_days), at(plan.expire_after_days))


Status = Literal["scheduled", "invited", "responded", "expired", "cancelled"]
OPEN: frozenset[Status] = frozenset({"scheduled", "invited"})


@dataclass(frozen=True)
class Step:
    kind: Literal["invite", "remind", "expire"]
    number: int = 0  # reminder number for "remind"


def due_steps(scheduled: SurveyScheduled | StepTimes, status: Status, reminders_sent: int, now: datetime,
              invited_at: datetime | None = None) -> list[Step]:
    """What a tick at `now` makes due for one invitation in `status` (see module doc). Reminders whose
    time had already passed when the invitation went out (`invited_at`, late tick) are skipped."""
    if status not in OPEN:
        return []
    if now >= scheduled.expires_at:
        return [Step("expire")]
    if status == "scheduled":
        return [Step("invite")] if now >= scheduled.due_at else []
    due = [k for k, at in enumerate(scheduled.reminders_at, 1)
           if now >= at and k > reminders_sent and (invited_at is None or at > invited_at)]
    return [Step("remind", max(due))] if due else []


def next_step_at(scheduled: SurveyScheduled | StepTimes, status: Status, reminders_sent: int,
                 invited_at: datetime | None = None) -> datetime | None:
    """The earliest `now` at which `due_steps` returns something (None once the invitation is closed)."""
    if status == "scheduled":
        return scheduled.due_at
    if status != "invited":
        return None
    later = [at for k, at in enumerate(scheduled.reminders_at, 1)
             if k > reminders_sent and (invited_at is None or at > invited_at)]
    return min([*later, scheduled.expires_at])
