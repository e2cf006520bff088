"""An independent count of a cohort's published numbers, from the raw requests alone (pure).

Written straight from docs/metrics.md, on purpose WITHOUT the platform's code (no `contracts`, no
`services`): if both read the definitions the same way they agree, and a difference points at one of
them. Input: the requests sent to ingest, in order (`loadtests.changes.Step`: settings, enrolments,
withdrawals, zone changes, client events, clock ticks). Output: what `/weekly`, `/daily` (both
denominators), `/members` and `/daytypes` (each stage, both denominators) must answer.

The rules it needs, in its own words:

* an event is (member, event id); the first delivery is the event, later ones change nothing;
* a zone change counts from 00:00 of its date in the new zone; an instant before that keeps the old
  zone's date, but never later than the day before the change;
* a member's days run from the first enrolment to the cohort's end or the member's today (the local
  date of the latest tick), whichever is earlier; a day counts in a rate once it is over (before
  today); follow-up days are those inside an enrolment period (a withdrawal closes the period from
  its date, a re-enrolment opens a new one); outside them nothing counts as done;
* each day is judged by the settings whose effective date is the latest on or before it (the first
  settings judge the days before); tasks, holidays and make-up working days vary by date, everything
  else is the latest value;
* a member without 28 complete follow-up days is `pending` while a follow-up day is under way or
  still to come, and `insufficient` once none is (follow-up ended before day 28).
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from fractions import Fraction
from zoneinfo import ZoneInfo

DAY = timedelta(days=1)
WINDOW = 28  # activity is judged on the first 28 follow-up days


@dataclass
class Member:
    member_id: str
    zones: list[tuple[date | None, str]]  # (effective from, zone); the first entry has no date
    periods: list[list]  # [start, end or None] enrolment periods, end exclusive

    def zone_for(self, effective_on: date, name: str) -> None:
        self.zones = [z for z in self.zones if z[0] != effective_on] + [(effective_on, name)]
        self.zones.sort(key=lambda z: z[0] or date.min)

    def day_of(self, instant: datetime) -> date:
        """The local date of `instant` under the member's zone history."""
        segment = 0
        for i in range(1, len(self.zones)):
            start, name = self.zones[i]
            if instant >= datetime.combine(start, time(0), ZoneInfo(name)):
                segment = i
        day = instant.astimezone(ZoneInfo(self.zones[segment][1])).date()
        if segment + 1 < len(self.zones):
            day = min(day, self.zones[segment + 1][0] - DAY)
        return day

    def followed(self, day: date) -> bool:
        return any(start <= day and (end is None or day < end) for start, end in self.periods)

    def follow_up_to_come(self, today: date, ends_on: date) -> bool:
        """Is a follow-up day under way or still to come? If not, follow-up has ended (a period after
        the cohort's end, or one closed on its first day, holds no day)."""
        return any((min(end - DAY, ends_on) if end else ends_on) >= max(start, today) for start, end in self.periods)


@dataclass
class Cohort:
    """The cohort as the requests leave it."""

    settings: list[tuple[date, dict]] = field(default_factory=list)  # (effective from, settings)
    latest_settings: dict = field(default_factory=dict)
    members: dict[str, Member] = field(default_factory=dict)
    events: dict[tuple[str, str], dict] = field(default_factory=dict)  # first delivery per key
    now: datetime | None = None

    def apply(self, method: str, path: str, body, params: dict | None) -> None:
        if path.endswith("/settings"):
            when = (params or {}).get("effective_on")
            when = date.fromisoformat(when) if when else self.now.date() if self.now else date.min
            self.settings = sorted([s for s in self.settings if s[0] != when] + [(when, body)], key=lambda s: s[0])
            self.latest_settings = body
        elif path == "/v1/enrollments":
            self._enrol(body)
        elif path == "/v1/withdrawals":
            self.members[body["member_id"]].periods[-1][1] = date.fromisoformat(body["withdrawn_on"])
        elif path.endswith("/timezone"):
            member = path.split("/")[3]
            self.members[member].zone_for(date.fromisoformat(body["effective_on"]), body["timezone"])
        elif path == "/v1/events":
            for event in body:
                self.events.setdefault((event["member_id"], event["event_id"]), event)
        elif path == "/v1/admin/clock":
            now = datetime.fromisoformat(body["now"])
            self.now = now if self.now is None else max(self.now, now)

    def _enrol(self, body: dict) -> None:
        on, member = date.fromisoformat(body["enrolled_on"]), self.members.get(body["member_id"])
        if member is None:
            self.members[body["member_id"]] = Member(body["member_id"], [(None, body["timezone"])], [[on, None]])
        elif member.periods[-1][1] is not None:  # a re-enrolment; in another zone: a zone change from then
            member.periods.append([on, None])
            current = [z for z in member.zones if z[0] is None or z[0] <= on][-1][1]
            if body["timezone"] != current:
                member.zone_for(on, body["timezone"])

    def rules_on(self, day: date) -> dict:
        """The settings that judge `day`: dated ones from the version in force, the rest the latest."""
        version = self.settings[0][1]
        for start, s in self.settings:
            if start <= day:
                version = s
        return {**self.latest_settings, **{k: version.get(k, []) for k in ("tasks", "holidays", "working_days")}}


@dataclass(frozen=True)
class Day:
    member_id: str
    day: date
    number: int
    complete: bool
    followed: bool
    logged_in: bool
    participated: bool
    completed: bool
    actions: int
    working: bool


def cohort_of(steps) -> Cohort:
    cohort = Cohort()
    for step in steps:
        cohort.apply(*step)
    return cohort


def member_days(cohort: Cohort) -> list[Day]:
    done: dict[tuple[str, date], set[str]] = defaultdict(set)
    acted: dict[tuple[str, date], int] = defaultdict(int)
    seen: set[tuple[str, date]] = set()
    for (member_id, _), e in cohort.events.items():
        member = cohort.members.get(member_id)
        if member is None:
            continue
        key = (member_id, member.day_of(datetime.fromisoformat(e["occurred_at"])))
        seen.add(key)
        if e["type"] == "checkin":
            done[key].add(e["payload"]["task"])
        if e["type"] == "meditation_play" and e["payload"].get("completed"):
            done[key].add("meditation")
        acted[key] += e["type"] in ("checkin", "meditation_play")
    ends_on = date.fromisoformat(cohort.latest_settings["ends_on"])
    out = []
    for member_id in sorted(cohort.members):
        member = cohort.members[member_id]
        today = member.day_of(cohort.now)
        first = day = member.periods[0][0]
        while day <= min(today, ends_on):
            rules = cohort.rules_on(day)
            tasks, key = set(rules["tasks"]), (member_id, day)
            followed = member.followed(day)
            working = day.isoformat() in rules["working_days"] or (
                day.weekday() < 5 and day.isoformat() not in rules["holidays"])
            out.append(Day(member_id, day, (day - first).days + 1, day < today, followed,
                           followed and key in seen, followed and bool(done[key] & tasks),
                           followed and key in seen and tasks <= done[key], acted[key] if followed else 0, working))
            day += DAY
    return out


def rates(days: list[Day], denominator: str) -> dict:
    complete = [d for d in days if d.complete]
    n = len(complete)
    counts = [sum(getattr(d, f) for d in complete) for f in ("logged_in", "participated", "completed")]
    return {"denominator": denominator, "partial": len(complete) < len(days), "member_days": n,
            "logged_in_days": counts[0], "participated_days": counts[1], "completed_days": counts[2],
            **{name: 100 * c / n if n else 0.0
               for name, c in zip(("login_rate", "participation_rate", "completion_rate"), counts)}}


def _counted(days: list[Day], denominator: str) -> list[Day]:
    return days if denominator == "enrolled" else [d for d in days if d.followed]


def weekly(cohort: Cohort, days: list[Day], denominator: str) -> list[dict]:
    weeks: dict[int, list[Day]] = defaultdict(list)
    for d in _counted(days, denominator):
        weeks[(d.number - 1) // 7 + 1].append(d)
    last = cohort.latest_settings.get("intervention_weeks", 4)
    return [{"week": w, "stage": "intervention" if w <= last else "open-ended", **rates(weeks[w], denominator)}
            for w in sorted(weeks)]


def daily(days: list[Day], denominator: str) -> list[dict]:
    by_date: dict[date, list[Day]] = defaultdict(list)
    for d in _counted(days, denominator):
        by_date[d.day].append(d)
    return [{"day": day.isoformat(), **rates(by_date[day], denominator)} for day in sorted(by_date)]


def members(cohort: Cohort, days: list[Day]) -> list[dict]:
    ends_on = date.fromisoformat(cohort.latest_settings["ends_on"])
    threshold = cohort.latest_settings.get("active_login_threshold", 0.7)
    out = []
    for member_id in sorted(cohort.members):
        member = cohort.members[member_id]
        followed = [d for d in days if d.member_id == member_id and d.followed]
        window = [d for d in followed[:WINDOW] if d.complete]
        row = rates(window, "")
        n = row["member_days"]
        end = member.periods[-1][1]
        today = member.day_of(cohort.now) if cohort.now else date.min  # no tick yet: nothing lived
        ended = not member.follow_up_to_come(today, ends_on)
        activity = ("insufficient" if ended else "pending") if n < WINDOW else \
            "active" if row["logged_in_days"] / n >= threshold else "inactive"
        out.append({"member_id": member_id, "timezone": max(member.zones, key=lambda z: z[0] or date.min)[1],
                    "enrolled_on": member.periods[0][0].isoformat(), "withdrawn_on": end.isoformat() if end else None,
                    "follow_up_days": sum(d.complete for d in followed), "window_days": n,
                    **{k: v for k, v in row.items() if k not in ("denominator", "partial", "member_days")},
                    "activity": activity, "active": activity == "active" if n == WINDOW else None})
    return out


def _sd(values: list) -> float | None:
    return float(statistics.stdev(values)) if len(values) > 1 else None


def daytypes(cohort: Cohort, days: list[Day], stage: str, denominator: str) -> list[dict]:
    limit = 7 * cohort.latest_settings.get("intervention_weeks", 4)
    in_stage = {"all": lambda d: True, "intervention": lambda d: d.number <= limit,
                "open-ended": lambda d: d.number > limit}[stage]
    out = []
    for label, working in (("working", True), ("non-working", False)):
        group = [d for d in _counted(days, denominator) if d.working == working and in_stage(d)]
        if not group:
            continue
        acted = [d for d in group if d.complete and d.followed]  # actions: complete follow-up days only
        per_member: dict[str, list[int]] = defaultdict(list)
        for d in acted:
            per_member[d.member_id].append(d.actions)
        means = [Fraction(sum(v), len(v)) for v in per_member.values()]
        actions = [d.actions for d in acted]
        out.append({"day_type": label, "stage": stage, **rates(group, denominator), "actions": sum(actions),
                    "action_days": len(actions), "actions_mean": sum(actions) / len(actions) if actions else 0.0,
                    "actions_sd": _sd(actions), "members": len(means),
                    "actions_per_member_mean": float(sum(means) / len(means)) if means else 0.0,
                    "actions_per_member_sd": _sd(means)})
    return out


# Every answer compared: the endpoint with its query, and the field that names a row.
QUERIES = {
    "weekly?denominator=followup": "week", "weekly?denominator=enrolled": "week",
    "daily?denominator=followup": "day", "daily?denominator=enrolled": "day",
    "members": "member_id",
    **{f"daytypes?stage={s}&denominator={d}": "day_type"
       for s in ("all", "intervention", "open-ended") for d in ("followup", "enrolled")},
}


def recount(steps) -> dict[str, list[dict]]:
    """What every query of QUERIES must answer after `steps` (an empty cohort answers nothing)."""
    cohort = cohort_of(steps)
    days = member_days(cohort) if cohort.now and cohort.members else []
    out = {}
    for query in QUERIES:
        endpoint, _, args = query.partition("?")
        p = dict(a.split("=") for a in args.split("&")) if args else {}
        out[query] = (weekly(cohort, days, p["denominator"]) if endpoint == "weekly" else
                      daily(days, p["denominator"]) if endpoint == "daily" else
                      members(cohort, days) if endpoint == "members" else
                      daytypes(cohort, days, p["stage"], p["denominator"]))
    return out


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, (int, float)) or isinstance(b, float) and isinstance(a, (int, float)):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return a == b


def differences(truth: dict[str, list[dict]], answers: dict[str, list[dict] | None]) -> list[str]:
    """One line per differing field, row or answer: 'query row field: platform X, count Y'."""
    out = []
    for query, key in QUERIES.items():
        got = answers.get(query)
        if got is None:
            out.append(f"{query}: no answer")
            continue
        rows = {str(r[key]): r for r in got}
        for want in truth[query]:
            have = rows.pop(str(want[key]), None)
            if have is None:
                out.append(f"{query} {want[key]}: missing row")
                continue
            out += [f"{query} {want[key]} {f}: platform {have.get(f)!r}, count {v!r}"
                    for f, v in want.items() if not _same(have.get(f), v)]
        out += [f"{query} {row}: row the count does not have" for row in rows]
        if not out and [str(r[key]) for r in got] != [str(r[key]) for r in truth[query]]:
            out.append(f"{query}: rows in another order")
    return out
