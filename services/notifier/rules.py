"""The notifier's decisions as pure functions (no I/O, no clock reads): inactivity → alerts,
auto-resolution, escalation, nurse assignment and reminder slots. "Now" is always an argument —
the latest `clock.tick` — and every engagement rule comes from `contracts.engagement`.

Definitions (docs/services/notifier.md, docs/metrics.md; member time: docs/timeline.md):
* A member's local day comes from their zone history (a zone change applies from its date), follow-up
  from their periods (a withdrawal takes effect on its date, a re-enrolment continues the day numbers,
  the days between are skipped), and tasks and reminder times from the settings in force that day.
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
  because late events arrived. Alerts of members whose withdrawal date has come
  resolve as `withdrawn`, alerts of members whose follow-up ended as `follow_up_ended`; members never
  alert on or after their withdrawal date (before it, they are followed up like anyone).
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
from collections.abc import Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from itertools import islice

from contracts.alerts import AlertRule, ResolveReason
from contracts.engagement import NO_ENGAGEMENT, AnyClientEvent, DayEngagement, stage, study_week, summarize_day
from contracts.members import CohortSettings, MemberEnrolled, MemberWithdrawn
from contracts.timeline import MemberTimeline, SettingsHistory, ZoneHistory, apply_member_record

NAMESPACE = uuid.UUID("5a0c7d1e-58f4-4f7e-9b7e-6a1d1c0a4e21")
ESCALATE_AFTER = timedelta(hours=24)
OPEN_ENDED_WINDOW = 7
MAX_EPISODE_LOOKBACK = 400  # days walked back to find an episode start
ONE_DAY = timedelta(days=1)

Days = Mapping[date, DayEngagement]
# A member is their timeline (contracts/timeline.py): zone history and follow-up periods; a cohort's
# settings are its SettingsHistory (tasks and reminder times in force on each day).
Member = MemberTimeline


def member(member_id: str, cohort: str, zone: str, enrolled_on: date, withdrawn_on: date | None = None,
           occurred_at: datetime | None = None) -> MemberTimeline:
    """A member's timeline from one enrolment (and a withdrawal): for tests and tools."""
    when = occurred_at or datetime.combine(enrolled_on, time(0), tzinfo=timezone.utc)
    timeline = apply_member_record(None, MemberEnrolled(
        event_id=uuid.uuid4(), member_id=member_id, cohort=cohort, timezone=zone, enrolled_on=enrolled_on,
        occurred_at=when))
    if withdrawn_on is not None:
        timeline = apply_member_record(timeline, MemberWithdrawn(
            event_id=uuid.uuid4(), member_id=member_id, cohort=cohort, withdrawn_on=withdrawn_on, occurred_at=when))
    return timeline


def history(settings: CohortSettings) -> SettingsHistory:
    """One configuration in force for every day."""
    return SettingsHistory().configured(settings, None)


def stable_id(*parts: object) -> uuid.UUID:
    """Deterministic id of a decision, so re-processing a tick re-creates the same event."""
    return uuid.uuid5(NAMESPACE, "|".join(str(p) for p in parts))


def delivery_due(outcome: str | None, replay: uuid.UUID | None = None,
                 replays_done: AbstractSet[uuid.UUID] = frozenset()) -> bool:
    """Whether a message is to be delivered now. A request: only while its dedup_key has no outcome
    (delivered or failed), so it is sent at most once. An operator's replay of a dead letter
    (`notification.replayed`) overrides that dedup: it is delivered once per replay id, and never once
    the key was delivered (a second replay of a message that went through is a no-op)."""
    if replay is None:
        return outcome is None
    return outcome != "delivered" and replay not in replays_done


def add_event(days: dict[date, DayEngagement], event: AnyClientEvent, zones: ZoneHistory) -> date:
    """Fold one client event into the member's days (idempotent: flags and task sets only)."""
    day = zones.local_day(event.occurred_at)
    days[day] = merge(days.get(day, NO_ENGAGEMENT), summarize_day([event]))
    return day


def merge(a: DayEngagement, b: DayEngagement) -> DayEngagement:
    return DayEngagement(a.logged_in or b.logged_in, a.tasks_done | b.tasks_done, 0)


def logged_in(days: Days, day: date) -> bool:
    return days.get(day, NO_ENGAGEMENT).logged_in


def last_login_on(days: Days, up_to: date) -> date | None:
    return max((d for d, e in days.items() if e.logged_in and d <= up_to), default=None)


def earlier_follow_up_days(member: Member, through: date) -> Iterator[date]:
    """Follow-up days on or before `through`, latest first, at most MAX_EPISODE_LOOKBACK days back
    (the days between a withdrawal and a re-enrolment are skipped: they are not follow-up days)."""
    day, first = through, member.follow_up.first_enrolled_on
    while day >= first and (through - day).days < MAX_EPISODE_LOOKBACK:
        if member.in_follow_up(day):
            yield day
        day -= ONE_DAY


def follow_up_days_back(member: Member, through: date, n: int) -> list[date]:
    """The last `n` (or fewer) follow-up days on or before `through`, latest first."""
    return list(islice(earlier_follow_up_days(member, through), n))


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


def _rate_low(days: Days, member: Member, through: date, settings: CohortSettings) -> tuple[bool, int, int]:
    """(login rate of the last 7 follow-up days through `through` below the threshold, missed, window)."""
    window = follow_up_days_back(member, through, OPEN_ENDED_WINDOW)
    if not window:
        return False, 0, 0
    logins = sum(logged_in(days, d) for d in window)
    return logins / len(window) < settings.open_ended_min_login_rate_7d, len(window) - logins, len(window)


def _streak_missed(days: Days, member: Member, through: date, n: int) -> bool:
    window = follow_up_days_back(member, through, n)
    return len(window) == n and not any(logged_in(days, d) for d in window)


def rule_for(member: Member, settings: CohortSettings, day: date) -> AlertRule:
    week = study_week(member.day_number(day))
    return "intervention_inactive" if stage(week, settings.intervention_weeks) == "intervention" \
        else "open_ended_low_login_rate"


def holds(rule: AlertRule, member: Member, settings: CohortSettings, days: Days, through: date) -> bool:
    """Does `rule` find the member inactive on the complete day `through`?"""
    if rule == "intervention_inactive":
        return _streak_missed(days, member, through, settings.inactive_days_intervention)
    return _rate_low(days, member, through, settings)[0]


def evaluate(member: Member, cohort: SettingsHistory, days: Days, now: datetime) -> Finding | None:
    """The inactivity finding for `member` at `now`, or None when the member is not inactive (or
    today or the judged day is not a follow-up day: a withdrawal silences from its date on)."""
    settings = cohort.latest  # the rules' thresholds are not date-effective
    today = member.local_day(now)
    through = today - ONE_DAY
    if not (member.in_follow_up(through, settings.ends_on) and member.in_follow_up(today, settings.ends_on)):
        return None
    if logged_in(days, today):
        return None
    rule = rule_for(member, settings, through)
    if not holds(rule, member, settings, days, through):
        return None
    since = through
    if rule == "intervention_inactive":
        n = settings.inactive_days_intervention
        for earlier in earlier_follow_up_days(member, through - ONE_DAY):
            if logged_in(days, earlier):
                break
            since = earlier
        missed, window = n, n
    else:
        for earlier in earlier_follow_up_days(member, through - ONE_DAY):
            if rule_for(member, settings, earlier) != rule or not _rate_low(days, member, earlier, settings)[0]:
                break
            since = earlier
        _, missed, window = _rate_low(days, member, through, settings)
    return Finding(member.member_id, rule, since, through, missed, window, last_login_on(days, through))


def follow_up_stopped(member: Member, settings: CohortSettings, now: datetime) -> ResolveReason | None:
    """Why any open alert of the member resolves now because follow-up stopped, or None: a withdrawal
    once its date has come (not when it was recorded), or the cohort's end."""
    today = member.local_day(now)
    if member.follow_up.withdrawn_on_day(today):
        return "withdrawn"
    if settings.ends_on is not None and today > settings.ends_on:
        return "follow_up_ended"
    return None


def resolution(rule: AlertRule, through: date, member: Member, cohort: SettingsHistory, days: Days,
               now: datetime) -> ResolveReason | None:
    """Why an unresolved alert judged on `through` should resolve itself now, or None.

    Intervention: any login after `through` (today included). Open-ended: the 7-day login rate of the
    latest complete day is back at or above the threshold (one login does not end a low-rate episode).
    Both: late events showing the rule did not hold on `through` after all. A withdrawal resolves the
    alert once its date has come (not when it was recorded)."""
    settings = cohort.latest
    stopped = follow_up_stopped(member, settings, now)
    if stopped is not None:
        return stopped
    today = member.local_day(now)
    if not holds(rule, member, settings, days, through):
        return "active_again"  # late events: the member was not inactive after all
    if rule == "intervention_inactive":
        if any(e.logged_in and through < d <= today for d, e in days.items()):
            return "active_again"
    elif today - ONE_DAY > through and not holds(rule, member, settings, days, today - ONE_DAY):
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


def due_slot(now: datetime, zones: ZoneHistory, slots: Sequence[time], grace: timedelta) -> tuple[date, time] | None:
    """The latest reminder slot of the member's local today that has passed by less than `grace`
    (slot times are read on the wall clock of the zone the day is lived in)."""
    today = zones.local_day(now)
    passed = [s for s in sorted(slots) if zones.at(today, s) <= now]
    if not passed:
        return None
    slot = passed[-1]
    if now - zones.at(today, slot) >= grace:
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


def missed_slots(member: Member, cohort: SettingsHistory, days: Days, now: datetime,
                 grace: timedelta) -> list[MissedSlot]:
    """Slots of the member's local yesterday and today that have passed at `now` and will never be
    sent: every passed slot except the one `due_slot` picks. Only slots whose reminder would have been
    wanted count (member in follow-up that day, tasks of that day's settings still open); the caller
    drops keys already sent or recorded. Yesterday is included so a stop of the clock across midnight
    is recorded too."""
    today = member.local_day(now)
    due = due_slot(now, member.zones, cohort.settings_on(today).reminder_times, grace)
    out = []
    for day in (today - ONE_DAY, today):
        if not member.in_follow_up(day, cohort.latest.ends_on):
            continue
        settings = cohort.settings_on(day)
        if not days.get(day, NO_ENGAGEMENT).remaining(settings.tasks):
            continue
        for slot in sorted(settings.reminder_times):
            moment = member.zones.at(day, slot)
            if moment > now or (day, slot) == due:
                continue
            reason = "past_grace" if now - moment >= grace else "superseded"
            out.append(MissedSlot(member.member_id, member.cohort, day, slot, moment, reason))
    return out


def reminder_for(member: Member, cohort: SettingsHistory, days: Days, now: datetime,
                 grace: timedelta) -> Reminder | None:
    """The reminder due for `member` at `now`: in follow-up today (a withdrawal counts from its date),
    a slot of the day's settings due, tasks of the day's settings remaining."""
    today = member.local_day(now)
    if not member.in_follow_up(today, cohort.latest.ends_on):
        return None
    settings = cohort.settings_on(today)
    due = due_slot(now, member.zones, settings.reminder_times, grace)
    if due is None:
        return None
    today, slot = due
    remaining = days.get(today, NO_ENGAGEMENT).remaining(settings.tasks)
    if not remaining:
        return None
    return Reminder(member.member_id, member.cohort, today, slot, remaining)
