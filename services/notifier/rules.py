"""The notifier's decisions as pure functions (no I/O, no clock reads): inactivity → alerts,
auto-resolution, escalation, nurse assignment and reminder slots. "Now" is always an argument —
the latest `clock.tick` — and every engagement rule comes from `contracts.engagement`.

Definitions (docs/services/notifier.md, docs/metrics.md):
* A day is **complete** for a member when the latest tick is past the end of that local day in the
  member's time zone, i.e. it is before the member's local "today".
* A **missed** day is a complete follow-up day on which the member did not log in
  (`contracts.engagement.counts_as_login` over that local day's events, late events included).
* **Intervention stage** (the last complete day is in a study week ≤ `intervention_weeks`): alert when
  the last `inactive_days_intervention` (default 2) complete follow-up days are all missed and the
  member has not logged in today either. The episode starts at the first missed day of that streak.
* **Open-ended stage**: alert when the login rate over the 7 complete follow-up days ending with the
  last complete day is below `open_ended_min_login_rate_7d` (default 50 %) and the member has not
  logged in today. The episode starts at the first day of the unbroken run of such low-rate days.
* One alert per (member, rule, episode start): its id is a uuid5 of those, so the same episode never
  raises twice (not after a restart, not after a nurse resolved it while the member stayed away),
  and the queue allows one open alert per member at a time.
* **Active again** (auto-resolve): intervention — a login on any day after the judged day (today
  included); open-ended — the 7-day login rate of the latest complete day back at or above the
  threshold (so the low-rate episode has ended); both — the rule no longer holding on the judged day
  because late events arrived. Withdrawn members' alerts
  resolve as `withdrawn`, alerts of members whose follow-up ended as `follow_up_ended`; withdrawn
  members never alert.
* **Escalation**: an alert still open (not acknowledged, no call logged) 24 h after it was raised is
  escalated once: re-notified to its nurse and flagged to the cohort's lead nurse.
* **Assignment**: the cohort nurse with the fewest unresolved alerts in the cohort; ties go to the
  nurse listed first in the cohort settings. Deterministic for a given queue.
* **Reminder slots**: at each tick only the latest slot of the member's local today whose time has
  passed is due, and only while it passed less than `grace` ago (default 120 min): after a short stop
  of the clock it is sent once, late. Slots a tick jumped over are never sent (a 08:00 reminder sent
  at 19:00 is noise) but recorded as skipped (`missed_slots`: `past_grace`, or `superseded` by a later
  slot due at the same tick), so none is silently lost. One reminder per member/day/slot.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from contracts.alerts import AlertRule, ResolveReason
from contracts.engagement import (
    NO_ENGAGEMENT, AnyClientEvent, DayEngagement, follow_up_day, in_follow_up, local_day, stage, study_week,
    summarize_day,
)
from contracts.members import CohortSettings

NAMESPACE = uuid.UUID("5a0c7d1e-58f4-4f7e-9b7e-6a1d1c0a4e21")
ESCALATE_AFTER = timedelta(hours=24)
OPEN_ENDED_WINDOW = 7
MAX_EPISODE_LOOKBACK = 400  # days walked back to find an episode start

Days = Mapping[date, DayEngagement]


@dataclass(frozen=True)
class Member:
    member_id: str
    cohort: str
    timezone: str
    enrolled_on: date
    withdrawn_on: date | None = None


def stable_id(*parts: object) -> uuid.UUID:
    """Deterministic id of a decision, so re-processing a tick re-creates the same event."""
    return uuid.uuid5(NAMESPACE, "|".join(str(p) for p in parts))


def add_event(days: dict[date, DayEngagement], event: AnyClientEvent, timezone: str) -> date:
    """Fold one client event into the member's days (idempotent: flags and task sets only)."""
    day = local_day(event.occurred_at, timezone)
    one = summarize_day([event])
    current = days.get(day, NO_ENGAGEMENT)
    days[day] = DayEngagement(current.logged_in or one.logged_in, current.tasks_done | one.tasks_done, 0)
    return day


def logged_in(days: Days, day: date) -> bool:
    return days.get(day, NO_ENGAGEMENT).logged_in


def last_login_on(days: Days, up_to: date) -> date | None:
    return max((d for d, e in days.items() if e.logged_in and d <= up_to), default=None)


@dataclass(frozen=True)
class Finding:
    member_id: str
    rule: AlertRule
    since: date
    through: date
    missed_days: int
    window_days: int
    last_login_on: date | None

    @property
    def alert_id(self) -> uuid.UUID:
        return stable_id("alert", self.member_id, self.rule, self.since)


def _rate_low(days: Days, through: date, settings: CohortSettings) -> tuple[bool, int]:
    window = [through - timedelta(days=i) for i in range(OPEN_ENDED_WINDOW)]
    logins = sum(logged_in(days, d) for d in window)
    return logins / OPEN_ENDED_WINDOW < settings.open_ended_min_login_rate_7d, OPEN_ENDED_WINDOW - logins


def _streak_missed(days: Days, through: date, n: int, enrolled_on: date) -> bool:
    window = [through - timedelta(days=i) for i in range(n)]
    return window[-1] >= enrolled_on and not any(logged_in(days, d) for d in window)


def rule_for(member: Member, settings: CohortSettings, day: date) -> AlertRule:
    week = study_week(follow_up_day(day, member.enrolled_on))
    return "intervention_inactive" if stage(week, settings.intervention_weeks) == "intervention" \
        else "open_ended_low_login_rate"


def holds(rule: AlertRule, member: Member, settings: CohortSettings, days: Days, through: date) -> bool:
    """Does `rule` find the member inactive on the complete day `through`?"""
    if rule == "intervention_inactive":
        return _streak_missed(days, through, settings.inactive_days_intervention, member.enrolled_on)
    return _rate_low(days, through, settings)[0]


def evaluate(member: Member, settings: CohortSettings, days: Days, now: datetime) -> Finding | None:
    """The inactivity finding for `member` at `now`, or None when the member is not inactive."""
    if member.withdrawn_on is not None:
        return None
    today = local_day(now, member.timezone)
    through = today - timedelta(days=1)
    if not in_follow_up(through, member.enrolled_on, None, settings.ends_on):
        return None
    if not in_follow_up(today, member.enrolled_on, None, settings.ends_on):
        return None
    if logged_in(days, today):
        return None
    rule = rule_for(member, settings, through)
    if not holds(rule, member, settings, days, through):
        return None
    since = through
    if rule == "intervention_inactive":
        n = settings.inactive_days_intervention
        while since - timedelta(days=1) >= member.enrolled_on and not logged_in(days, since - timedelta(days=1)) \
                and (through - since).days < MAX_EPISODE_LOOKBACK:
            since -= timedelta(days=1)
        missed, window = n, n
    else:
        while (through - since).days < MAX_EPISODE_LOOKBACK:
            previous = since - timedelta(days=1)
            if rule_for(member, settings, previous) != rule or not _rate_low(days, previous, settings)[0]:
                break
            since = previous
        missed, window = _rate_low(days, through, settings)[1], OPEN_ENDED_WINDOW
    return Finding(member.member_id, rule, since, through, missed, window, last_login_on(days, through))


def resolution(rule: AlertRule, through: date, member: Member, settings: CohortSettings, days: Days,
               now: datetime) -> ResolveReason | None:
    """Why an unresolved alert judged on `through` should resolve itself now, or None.

    Intervention: any login after `through` (today included). Open-ended: the 7-day login rate of the
    latest complete day is back at or above the threshold (one login does not end a low-rate episode).
    Both: late events showing the rule did not hold on `through` after all."""
    if member.withdrawn_on is not None:
        return "withdrawn"
    today = local_day(now, member.timezone)
    if settings.ends_on is not None and today > settings.ends_on:
        return "follow_up_ended"
    if not holds(rule, member, settings, days, through):
        return "active_again"  # late events: the member was not inactive after all
    if rule == "intervention_inactive":
        if any(e.logged_in and through < d <= today for d, e in days.items()):
            return "active_again"
    elif today - timedelta(days=1) > through and not holds(rule, member, settings, days, today - timedelta(days=1)):
        return "active_again"
    return None


def escalation_due(raised_at: datetime, now: datetime, after: timedelta = ESCALATE_AFTER) -> bool:
    return now - raised_at >= after


def pick_nurse(nurses: Sequence[str], unresolved: Mapping[str, int]) -> str | None:
    """The nurse with the fewest unresolved alerts; ties go to the nurse listed first."""
    if not nurses:
        return None
    return min(enumerate(nurses), key=lambda pair: (unresolved.get(pair[1], 0), pair[0]))[1]


# --- reminders -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Reminder:
    member_id: str
    cohort: str
    day: date
    slot: time
    remaining: tuple[str, ...]

    @property
    def dedup_key(self) -> str:
        return f"reminder|{self.member_id}|{self.day.isoformat()}|{self.slot.strftime('%H:%M')}"

    @property
    def title(self) -> str:
        return "Your check-ins today"

    @property
    def body(self) -> str:
        left = ", ".join(TASK_LABELS.get(t, t.replace("_", " ")) for t in self.remaining)
        return f"Still to do today: {left}."


TASK_LABELS = {"meal": "meal", "exercise": "exercise", "meditation": "meditation"}


def due_slot(now: datetime, timezone: str, slots: Sequence[time], grace: timedelta) -> tuple[date, time] | None:
    """The latest reminder slot of the member's local today that has passed by less than `grace`."""
    zone = ZoneInfo(timezone)
    today = now.astimezone(zone).date()
    passed = [s for s in sorted(slots) if datetime.combine(today, s, tzinfo=zone) <= now]
    if not passed:
        return None
    slot = passed[-1]
    if now - datetime.combine(today, slot, tzinfo=zone) >= grace:
        return None
    return today, slot


@dataclass(frozen=True)
class MissedSlot:
    """A reminder slot that will not be sent: recorded as `notification.skipped`."""

    member_id: str
    cohort: str
    day: date
    slot: time
    due_at: datetime
    reason: str  # past_grace | superseded

    @property
    def dedup_key(self) -> str:
        return f"reminder|{self.member_id}|{self.day.isoformat()}|{self.slot.strftime('%H:%M')}"


def missed_slots(member: Member, settings: CohortSettings, days: Days, now: datetime,
                 grace: timedelta) -> list[MissedSlot]:
    """Slots of the member's local yesterday and today that have passed at `now` and will never be
    sent: every passed slot except the one `due_slot` picks. Only slots whose reminder would have been
    wanted count (member in follow-up that day, tasks still open); the caller drops keys already sent
    or recorded. Yesterday is included so a stop of the clock across midnight is recorded too."""
    if member.withdrawn_on is not None:
        return []
    zone = ZoneInfo(member.timezone)
    today = now.astimezone(zone).date()
    due = due_slot(now, member.timezone, settings.reminder_times, grace)
    out = []
    for day in (today - timedelta(days=1), today):
        if not in_follow_up(day, member.enrolled_on, None, settings.ends_on):
            continue
        if not days.get(day, NO_ENGAGEMENT).remaining(settings.tasks):
            continue
        for slot in sorted(settings.reminder_times):
            moment = datetime.combine(day, slot, tzinfo=zone)
            if moment > now or (day, slot) == due:
                continue
            reason = "past_grace" if now - moment >= grace else "superseded"
            out.append(MissedSlot(member.member_id, member.cohort, day, slot, moment, reason))
    return out


def reminder_for(member: Member, settings: CohortSettings, days: Days, now: datetime,
                 grace: timedelta) -> Reminder | None:
    """The reminder due for `member` at `now`: in follow-up today, a slot due, tasks remaining."""
    if member.withdrawn_on is not None:
        return None
    due = due_slot(now, member.timezone, settings.reminder_times, grace)
    if due is None:
        return None
    today, slot = due
    if not in_follow_up(today, member.enrolled_on, None, settings.ends_on):
        return None
    remaining = days.get(today, NO_ENGAGEMENT).remaining(settings.tasks)
    if not remaining:
        return None
    return Reminder(member.member_id, member.cohort, today, slot, remaining)
