"""The member-days of a cohort and the figures aggregated from them (pure: no I/O).

`queries.py` reads three things from ClickHouse — the cohort's `members`-topic records in log order,
the latest clock tick, and what each member did per local day (de-duplicated raw events) — and hands
them here. The rules (docs/metrics.md) come from `contracts.engagement` and `contracts.timeline`:

* a member's days run from the FIRST enrolment to the earlier of the cohort's `ends_on` and the
  member's today (the latest tick's local date in the zone in force then); day numbers count from the
  first enrolment;
* a day is `complete` once it is over (before today); only complete days count in a rate;
* `in_follow_up`: inside a follow-up period (a withdrawal ends it from its date, a re-enrolment opens
  a new one; the gap is outside). Outside follow-up nothing counts as done (the `enrolled`
  denominator counts those days as not logged in);
* each day is judged by the cohort settings in force on it (tasks, holidays, make-up working days).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from fractions import Fraction
from typing import NamedTuple

from contracts.engagement import activity, is_working_day_with_make_up, stage, study_week
from contracts.members import CohortConfigured, MemberEnrolled, MemberTimezoneChanged, MemberWithdrawn
from contracts.metrics_api import Denominator, StageFilter
from contracts.timeline import ONE_DAY, MemberTimeline, SettingsHistory, apply_member_record

WINDOW_DAYS = 28  # activity is judged on the first 28 follow-up days


class MemberDay(NamedTuple):
    member_id: str
    day: date
    day_number: int
    complete: bool
    in_follow_up: bool
    logged_in: bool
    participated: bool
    completed: bool
    actions: int
    working: bool


@dataclass
class CohortCalendar:
    """What the cohort's `members` records say, folded in log order."""

    settings: SettingsHistory = field(default_factory=SettingsHistory)
    timelines: dict[str, MemberTimeline] = field(default_factory=dict)

    def apply(self, record: CohortConfigured | MemberEnrolled | MemberWithdrawn | MemberTimezoneChanged) -> None:
        if isinstance(record, CohortConfigured):
            self.settings = self.settings.apply(record)
            return
        timeline = apply_member_record(self.timelines.get(record.member_id), record)
        if timeline is not None:
            self.timelines[record.member_id] = timeline

    @classmethod
    def of(cls, records: Iterable) -> CohortCalendar:
        calendar = cls()
        for record in records:
            calendar.apply(record)
        return calendar

    def single_zone(self, member_id: str) -> str | None:
        """The member's zone when it never changed (ClickHouse can bucket its events alone)."""
        zones = self.timelines[member_id].zones
        return None if zones.changes else zones.first


Engagement = Mapping[tuple[str, date], tuple[frozenset[str], int]]  # (member, day) → (tasks done, actions)


def member_days(calendar: CohortCalendar, now: datetime | None, engagement: Engagement) -> list[MemberDay]:
    """Every enrolled member-day up to each member's today (see the module docstring)."""
    if now is None:
        return []
    latest = calendar.settings.latest
    ends_on = latest.ends_on
    rules: dict[date, tuple[frozenset[str], bool]] = {}  # day → (tasks in force, working day)
    out: list[MemberDay] = []
    for member_id in sorted(calendar.timelines):
        t = calendar.timelines[member_id]
        today = t.zones.local_day(now)
        last = today if ends_on is None else min(today, ends_on)
        first = day = t.follow_up.first_enrolled_on
        while day <= last:
            rule = rules.get(day)
            if rule is None:
                s = calendar.settings.settings_on(day)
                rule = rules[day] = (frozenset(s.tasks), is_working_day_with_make_up(day, s.holidays, s.working_days))
            tasks_in_force, working = rule
            followed = t.follow_up.in_follow_up(day, ends_on)
            done, actions = engagement.get((member_id, day), (None, 0)) if followed else (None, 0)
            out.append(MemberDay(
                member_id, day, (day - first).days + 1, day < today, followed, done is not None,
                done is not None and bool(done & tasks_in_force), done is not None and tasks_in_force <= done,
                actions, working))
            day += ONE_DAY
    return out


# ---- aggregation -----------------------------------------------------------------------------------

def counts(days: Iterable[MemberDay], denominator: Denominator) -> dict:
    """The Rates fields of a group of member-days: complete days counted, `partial` if any is not."""
    n = logged = part = comp = 0
    partial = False
    for d in days:
        if denominator == "followup" and not d.in_follow_up:
            continue
        if not d.complete:
            partial = True
            continue
        n += 1
        logged += d.logged_in
        part += d.participated
        comp += d.completed
    return rates(denominator, partial, n, logged, part, comp)


def rates(denominator: Denominator, partial: bool, n: int, logged: int, part: int, comp: int) -> dict:
    """The Rates fields from the counts (unrounded percentages; 0 over no member-days)."""
    return {"denominator": denominator, "partial": partial, "member_days": n, "logged_in_days": logged,
            "participated_days": part, "completed_days": comp,
            "login_rate": 100 * logged / n if n else 0.0, "participation_rate": 100 * part / n if n else 0.0,
            "completion_rate": 100 * comp / n if n else 0.0}


def counted(days: Iterable[MemberDay], denominator: Denominator) -> list[MemberDay]:
    return [d for d in days if denominator == "enrolled" or d.in_follow_up]


def weekly(days: list[MemberDay], denominator: Denominator, intervention_weeks: int) -> list[dict]:
    weeks: dict[int, list[MemberDay]] = defaultdict(list)
    for d in counted(days, denominator):
        weeks[study_week(d.day_number)].append(d)
    return [{"week": w, "stage": stage(w, intervention_weeks), **counts(weeks[w], denominator)} for w in sorted(weeks)]


def daily(days: list[MemberDay], denominator: Denominator, start: date, end: date) -> list[dict]:
    by_day: dict[date, list[MemberDay]] = defaultdict(list)
    for d in counted(days, denominator):
        if start <= d.day <= end:
            by_day[d.day].append(d)
    return [{"day": day, **counts(by_day[day], denominator)} for day in sorted(by_day)]


def member_summaries(calendar: CohortCalendar, days: list[MemberDay]) -> list[dict]:
    """Per member: complete follow-up days; rates and activity over the first 28 follow-up days."""
    latest = calendar.settings.latest
    by_member: dict[str, list[MemberDay]] = defaultdict(list)
    newest: dict[str, MemberDay] = {}  # each member's last listed day (days come in member, date order)
    for d in days:
        newest[d.member_id] = d
        if d.in_follow_up:
            by_member[d.member_id].append(d)
    out = []
    for member_id in sorted(calendar.timelines):
        t = calendar.timelines[member_id]
        followed = by_member.get(member_id, [])
        window = [d for d in followed[:WINDOW_DAYS] if d.complete]  # gaps are skipped: follow-up days only
        n = len(window)
        logged = sum(d.logged_in for d in window)
        part = sum(d.participated for d in window)
        comp = sum(d.completed for d in window)
        # The member's today: the incomplete last listed day; past the cohort's end when every listed day
        # is complete (the list stops at ends_on); unknown (nothing lived yet) when none is listed.
        last_listed = newest.get(member_id)
        today = None if last_listed is None else last_listed.day + ONE_DAY * last_listed.complete
        ongoing = follow_up_goes_on(t, today, latest.ends_on)
        state = activity(logged, n, WINDOW_DAYS, ongoing, latest.active_login_threshold)
        out.append({
            "member_id": member_id, "timezone": t.zones.current, "enrolled_on": t.follow_up.first_enrolled_on,
            "withdrawn_on": t.follow_up.withdrawn_on if t.follow_up.is_withdrawn else None,
            "follow_up_days": sum(d.complete for d in followed), "window_days": n,
            "logged_in_days": logged, "participated_days": part, "completed_days": comp,
            "login_rate": 100 * logged / n if n else 0.0, "participation_rate": 100 * part / n if n else 0.0,
            "completion_rate": 100 * comp / n if n else 0.0,
            "activity": state, "active": None if state in ("pending", "insufficient") else state == "active"})
    return out


def follow_up_goes_on(t: MemberTimeline, today: date | None, ends_on: date | None) -> bool:
    """Is a follow-up day under way or still to come on or after the member's `today` (None: no day
    lived yet)? If not, follow-up has ended (`insufficient` before 28 days). A period closed on its
    first day, or opened after the cohort's end, holds no day (docs/metrics.md, "Active members")."""
    today = today or date.min
    for start, end in t.follow_up.periods:
        last = end - ONE_DAY if end is not None else ends_on  # the period's last day (None: no end)
        if last is not None and ends_on is not None:
            last = min(last, ends_on)
        if last is None or last >= max(start, today):
            return True
    return False


def daytypes(days: list[MemberDay], denominator: Denominator, stage_name: StageFilter,
             intervention_weeks: int) -> list[dict]:
    """Working vs non-working days: rates, and actions two ways — per member-day (mean, sample SD) and
    per member (each member's mean per day of the type, then mean and sample SD across members)."""
    limit = 7 * intervention_weeks
    keep = {"all": lambda d: True, "intervention": lambda d: d.day_number <= limit,
            "open-ended": lambda d: d.day_number > limit}[stage_name]
    out = []
    for label, working in (("working", True), ("non-working", False)):
        group = [d for d in counted(days, denominator) if d.working == working and keep(d)]
        if not group:
            continue
        acted = [d for d in group if d.complete and d.in_follow_up]
        per_member: dict[str, list[int]] = defaultdict(list)
        for d in acted:
            per_member[d.member_id].append(d.actions)
        means = [Fraction(sum(v), len(v)) for v in per_member.values()]
        values = [d.actions for d in acted]
        total = sum(values)
        out.append({"day_type": label, "stage": stage_name, **counts(group, denominator),
                    "actions": total, "action_days": len(values),
                    "actions_mean": total / len(values) if values else 0.0,
                    "actions_sd": sample_sd(values), "members": len(means),
                    "actions_per_member_mean": float(sum(means) / len(means)) if means else 0.0,
                    "actions_per_member_sd": sample_sd(means)})
    return out


def sample_sd(values: list) -> float | None:
    """Sample SD (ddof=1), exact (integers or fractions) and correctly rounded; None below 2 values."""
    import statistics
    return float(statistics.stdev(values)) if len(values) >= 2 else None
