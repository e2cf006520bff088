"""A synthetic cohort with KNOWN ground truth (shared by the metrics tests and the simulator).

`generate()` is pure (seeded): it first decides, for every member and every follow-up day, whether the
member logged in, which scheduled tasks they did and how many actions they took; then it emits
client events that realise exactly that plan (at local times that often fall just after midnight or
just before it, in zones east and west of UTC and across a DST change), adds 5 % duplicate
deliveries, delays some events up to 3 days, and sprinkles events after a withdrawal that must not
count. The truth is counted directly from the plan — it never calls the platform's code.
"""

from __future__ import annotations

import random
import statistics
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from fractions import Fraction
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

TASKS = ("meal", "exercise", "meditation")
ZONES = ("Asia/Shanghai", "America/New_York", "Europe/Berlin")
# Edge-of-day local times (a Shanghai 00:20 is the previous UTC day; a New York 23:40 the next one).
EDGE_TIMES = (time(0, 5), time(0, 20), time(23, 40), time(23, 59), time(7, 30), time(12, 15), time(19, 45))


@dataclass(frozen=True)
class PlannedDay:
    member_id: str
    day: date
    day_number: int
    logged_in: bool
    tasks: frozenset[str]
    actions: int
    working: bool


@dataclass
class GeneratedCohort:
    cohort: str
    settings: dict  # body of PUT /v1/cohorts/{cohort}/settings
    enrolments: list[dict]  # bodies of POST /v1/enrollments
    withdrawals: list[dict]  # bodies of POST /v1/withdrawals
    deliveries: list[dict]  # client events in delivery order (duplicates included)
    now: datetime  # the final clock tick
    plan: list[PlannedDay] = field(default_factory=list)

    @property
    def unique_events(self) -> int:
        return len({e["event_id"] for e in self.deliveries})


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _stamp(day: date, at: time, zone: str) -> str:
    return datetime.combine(day, at, ZoneInfo(zone)).isoformat()


def generate(seed: int = 7, members: int = 54, weeks: int = 15, start: date = date(2026, 7, 27),
             cohort: str = "acceptance", prefix: str = "m", duplicate_share: float = 0.05, late_share: float = 0.1) -> GeneratedCohort:
    rng = random.Random(seed)
    holidays = (start + timedelta(days=10), start + timedelta(days=40))  # a Thursday and a Saturday
    ends_on = start + timedelta(days=7 * weeks - 1 + 2)  # members enrolled on days 0-2 get 15 full weeks
    settings = {"tasks": list(TASKS), "intervention_weeks": 4, "active_login_threshold": 0.7,
                "ends_on": ends_on.isoformat(), "holidays": [d.isoformat() for d in holidays]}
    now = datetime.combine(ends_on + timedelta(days=3), time(12), timezone.utc)

    enrolments, withdrawals, plan, events = [], [], [], []
    withdrawn_members = {3: 30, 17: 61}  # member index → follow-up day that is the withdrawal day
    for index in range(members):
        member_id, zone = f"{prefix}-{index:03d}", ZONES[index % len(ZONES)]
        enrolled_on = start + timedelta(days=index % 3)
        enrolments.append({"member_id": member_id, "cohort": cohort, "timezone": zone,
                           "enrolled_on": enrolled_on.isoformat()})
        withdrawn_on = None
        if index in withdrawn_members:
            withdrawn_on = enrolled_on + timedelta(days=withdrawn_members[index] - 1)
            withdrawals.append({"member_id": member_id, "cohort": cohort, "withdrawn_on": withdrawn_on.isoformat()})
        keen = rng.uniform(0.55, 1.0)  # some members are active, some not
        day, number = enrolled_on, 1
        while day <= ends_on:
            counted = withdrawn_on is None or day < withdrawn_on
            week = (number - 1) // 7 + 1
            p_login = keen * (0.95 - 0.035 * week)
            logged = rng.random() < p_login
            tasks: set[str] = set()
            if logged and rng.random() < 0.75:
                tasks = {t for t in TASKS if rng.random() < 0.6} or {rng.choice(TASKS)}
            day_events = _realise(rng, member_id, zone, day, logged, tasks)
            actions = sum(e["type"] in ("checkin", "meditation_play") for e in day_events)
            if counted:
                plan.append(PlannedDay(member_id, day, number, logged, frozenset(tasks), actions,
                                       day.weekday() < 5 and day not in holidays))
                events += day_events
            elif rng.random() < 0.2:  # the app still sends something after withdrawal: must not count
                events += day_events
            day += timedelta(days=1)
            number += 1

    deliveries = [e for _, e in delivery_schedule(rng, events, late_share, duplicate_share)]
    return GeneratedCohort(cohort, settings, enrolments, withdrawals, deliveries, now, plan)


def delivery_schedule(rng: random.Random, events: list[dict], late_share: float = 0.1,
                      duplicate_share: float = 0.05) -> list[tuple[datetime, dict]]:
    """(delivered at, event) in delivery order: by occurrence, `late_share` delayed by 1-72 h (phone
    offline), `duplicate_share` delivered a second time up to 48 h later (same event_id)."""
    def delivered_at(event: dict) -> datetime:
        at = datetime.fromisoformat(event["occurred_at"])
        return at + timedelta(hours=rng.uniform(1, 72)) if rng.random() < late_share else at

    keyed = [(delivered_at(e), i, e) for i, e in enumerate(events)]
    keyed += [(k + timedelta(hours=rng.uniform(0, 48)), i, e) for k, i, e in keyed if rng.random() < duplicate_share]
    return [(at, e) for at, _, e in sorted(keyed, key=lambda x: (x[0], x[1]))]


def _realise(rng: random.Random, member_id: str, zone: str, day: date, logged: bool, tasks: set[str]) -> list[dict]:
    """Client events that make exactly this member-day: logged in iff any event, `tasks` marked."""
    if not logged:
        return []
    out: list[dict] = []

    def emit(kind: str, payload: dict) -> None:
        out.append({"event_id": _uuid(rng), "type": kind, "member_id": member_id,
                    "occurred_at": _stamp(day, rng.choice(EDGE_TIMES), zone), "payload": payload})

    if rng.random() < 0.7:
        emit("login", {})
    for task in sorted(tasks):
        if task == "meditation" and rng.random() < 0.5:
            emit("meditation_play", {"content_id": "calm-10", "seconds": 600, "completed": True})
        else:
            emit("checkin", {"task": task, **({"steps": rng.randint(100, 9000)} if task == "exercise" else {})})
    for _ in range(rng.randint(0, 3)):  # extra actions that mark nothing new
        if tasks and rng.random() < 0.5:
            emit("checkin", {"task": rng.choice(sorted(tasks))})
        else:
            emit("meditation_play", {"content_id": "sleep-5", "seconds": 120, "completed": False})
    if not out or rng.random() < 0.3:
        emit("post", {"channel": rng.choice(["community", "chat_room", "buddy"])})
    return out


# ---- the independent count (from the plan only) ----

def _rates(days: list[PlannedDay]) -> dict:
    """Every planned day is complete (the final tick is days after the cohort's end); follow-up denominator."""
    n = len(days)
    logged = sum(d.logged_in for d in days)
    part = sum(bool(d.tasks) for d in days)
    comp = sum(d.tasks == frozenset(TASKS) for d in days)
    return {"denominator": "followup", "partial": False, "member_days": n, "logged_in_days": logged, "participated_days": part, "completed_days": comp,
            "login_rate": 100 * logged / n if n else 0.0, "participation_rate": 100 * part / n if n else 0.0,
            "completion_rate": 100 * comp / n if n else 0.0}


def truth_weekly(g: GeneratedCohort) -> list[dict]:
    weeks: dict[int, list[PlannedDay]] = defaultdict(list)
    for d in g.plan:
        weeks[(d.day_number - 1) // 7 + 1].append(d)
    return [{"week": w, "stage": "intervention" if w <= 4 else "open-ended", **_rates(weeks[w])} for w in sorted(weeks)]


def truth_daily(g: GeneratedCohort) -> list[dict]:
    days: dict[date, list[PlannedDay]] = defaultdict(list)
    for d in g.plan:
        days[d.day].append(d)
    return [{"day": day.isoformat(), **_rates(days[day])} for day in sorted(days)]


def truth_members(g: GeneratedCohort) -> list[dict]:
    by_member: dict[str, list[PlannedDay]] = defaultdict(list)
    for d in g.plan:
        by_member[d.member_id].append(d)
    out = []
    for e in sorted(g.enrolments, key=lambda e: e["member_id"]):
        days = by_member[e["member_id"]]
        window = [d for d in days if d.day_number <= 28]
        r = _rates(window)
        del r["denominator"], r["partial"]
        judged = len(window) == 28  # otherwise follow-up ended before 28 days (all days are complete here)
        active = judged and r["logged_in_days"] / len(window) >= 0.7
        out.append({"member_id": e["member_id"], "follow_up_days": len(days), "window_days": r.pop("member_days"),
                    **r, "activity": ("active" if active else "inactive") if judged else "insufficient",
                    "active": active if judged else None})
    return out


def truth_daytypes(g: GeneratedCohort, stage: str = "all") -> list[dict]:
    out = []
    weeks = g.settings["intervention_weeks"]
    in_stage = {"all": lambda d: True, "intervention": lambda d: d.day_number <= 7 * weeks,
                "open-ended": lambda d: d.day_number > 7 * weeks}[stage]
    for label, working in (("working", True), ("non-working", False)):
        days = [d for d in g.plan if d.working == working and in_stage(d)]
        actions = [d.actions for d in days]
        per_member: dict[str, list[int]] = defaultdict(list)
        for d in days:
            per_member[d.member_id].append(d.actions)
        means = [Fraction(sum(v), len(v)) for v in per_member.values()]  # exact: floats only at the end
        out.append({"day_type": label, **_rates(days), "stage": stage, "actions": sum(actions),
                    "action_days": len(actions), "actions_mean": sum(actions) / len(actions),
                    "actions_sd": statistics.stdev(actions), "members": len(means),
                    "actions_per_member_mean": float(statistics.mean(means)),
                    "actions_per_member_sd": float(statistics.stdev(means))})
    return out
