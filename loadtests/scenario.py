"""Cohorts for the simulator, with known ground truth (pure, seeded; no I/O).

A cohort is first PLANNED (for every member and follow-up day: logged in?, which scheduled tasks?),
then REALISED as client events by the metrics test generator's own code
(`testsupport.cohort._realise` and `delivery_schedule`: edge-of-day local times, extra
actions that mark nothing new, late uploads, duplicate deliveries). The ground truth is counted from
the plan by that module's `truth_*` functions — never by the platform's code.

* `rates_cohort` — chosen weekly login / participation / completion probabilities, a working vs
  non-working day effect, time zones, withdrawals, duplicates and late uploads.
* `study_cohort` — the paper's 30 members over 15 weeks with the exact integer counts of
  `loadtests.study` (weekly rates that round to the published table wherever that is reachable).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone

from contracts.engagement import is_working_day, study_week
from testsupport.cohort import (
    TASKS,
    ZONES,
    GeneratedCohort,
    PlannedDay,
    _realise,
    delivery_schedule,
)

from .study import STUDY_TABLE, StudyDesign, study_design


@dataclass
class Simulation:
    """A generated cohort plus WHEN each delivery reaches the platform (for accelerated replay)."""

    cohort: GeneratedCohort
    schedule: list[tuple[datetime, dict]]  # (delivered at, client event), in delivery order
    start: datetime  # simulated time of the first clock tick
    design: StudyDesign | None = None
    paper: dict[int, tuple[str, str, str]] = field(default_factory=dict)

    @property
    def end(self) -> datetime:
        return self.cohort.now


@dataclass(frozen=True)
class _Day:
    member: int
    member_id: str
    zone: str
    day: date
    day_number: int
    working: bool


def _settings(ends_on: date, holidays: tuple[date, ...]) -> dict:
    return {"tasks": list(TASKS), "intervention_weeks": 4, "active_login_threshold": 0.7,
            "ends_on": ends_on.isoformat(), "holidays": [d.isoformat() for d in holidays]}


def _weighted_pick(rng: random.Random, items: list, weights: list[float], k: int) -> list:
    """k items without replacement, each drawn with probability ∝ weight (Efraimidis–Spirakis keys)."""
    keyed = sorted(zip(items, weights), key=lambda iw: rng.random() ** (1 / iw[1]), reverse=True)
    return [item for item, _ in keyed[:k]]


def _partial_tasks(rng: random.Random) -> frozenset[str]:
    """Some but not all scheduled tasks (a participated, not completed day)."""
    return frozenset(rng.sample(TASKS, rng.randint(1, len(TASKS) - 1)))


def _realise_cohort(
    rng: random.Random,
    cohort: str,
    settings: dict,
    enrolments: list[dict],
    withdrawals: list[dict],
    days: list[tuple[_Day, bool, frozenset[str]]],
    zone_of: dict[str, str],
    now: datetime,
    after_withdrawal: list[_Day],
    duplicate_share: float,
    late_share: float,
) -> tuple[GeneratedCohort, list]:
    plan, events = [], []
    for d, logged, tasks in days:
        day_events = _realise(rng, d.member_id, d.zone, d.day, logged, set(tasks))
        actions = sum(e["type"] in ("checkin", "meditation_play") for e in day_events)
        plan.append(PlannedDay(d.member_id, d.day, d.day_number, logged, frozenset(tasks), actions, d.working))
        events += day_events
    for d in after_withdrawal:  # the app still sends something after a withdrawal: must not count
        events += _realise(rng, d.member_id, d.zone, d.day, True, {rng.choice(TASKS)})
    schedule = delivery_schedule(rng, events, late_share, duplicate_share)
    generated = GeneratedCohort(cohort, settings, enrolments, withdrawals, [e for _, e in schedule], now, plan)
    return generated, schedule


def _start_of(first_day: date) -> datetime:
    """Midnight of the first day in the easternmost zone (UTC+14), so no event precedes the first tick."""
    return datetime.combine(first_day, time(0), timezone.utc) - timedelta(hours=14)


def _end_of(ends_on: date) -> datetime:
    """A final tick after the last follow-up day has ended everywhere and every late upload has arrived."""
    return datetime.combine(ends_on + timedelta(days=6), time(12), timezone.utc)


def linear_profile(weeks: int, first: float, last: float) -> list[float]:
    return [first + (last - first) * i / max(1, weeks - 1) for i in range(weeks)]


def rates_cohort(members: int = 60, weeks: int = 15, start: date = date(2026, 3, 2), cohort: str = "sim",
                 prefix: str = "sim", seed: int = 1, zones: tuple[str, ...] = ZONES,
                 login: list[float] | None = None, participation: list[float] | None = None,
                 completion: list[float] | None = None, nonworking_factor: float = 0.9,
                 withdrawal_share: float = 0.2, duplicate_share: float = 0.05, late_share: float = 0.1,
                 enrol_days: int = 3, holidays: tuple[date, ...] = ()) -> Simulation:
    """A cohort drawn from weekly probabilities (fractions 0–1, one per study week): a member-day is
    logged in with p = login[w] × the member's keenness × (nonworking_factor on weekends/holidays);
    participated with p = participation[w] / login[w] given logged in; completed with
    p = completion[w] / participation[w] given participated."""
    login = login or linear_profile(weeks, 0.65, 0.30)
    participation = participation or linear_profile(weeks, 0.45, 0.18)
    completion = completion or linear_profile(weeks, 0.25, 0.07)
    for name, profile in (("login", login), ("participation", participation), ("completion", completion)):
        if len(profile) != weeks or not all(0 <= p <= 1 for p in profile):
            raise ValueError(f"{name}: need {weeks} probabilities between 0 and 1")
    rng = random.Random(seed)
    ends_on = start + timedelta(days=7 * weeks - 1 + enrol_days - 1)
    settings = _settings(ends_on, holidays)
    enrolments, withdrawals, days, after = [], [], [], []
    zone_of = {}
    for index in range(members):
        member_id, zone = f"{prefix}-{index:03d}", zones[index % len(zones)]
        zone_of[member_id] = zone
        enrolled_on = start + timedelta(days=index % enrol_days)
        enrolments.append(
            {"member_id": member_id, "cohort": cohort, "timezone": zone, "enrolled_on": enrolled_on.isoformat()}
        )
        withdrawn_on = None
        if rng.random() < withdrawal_share:
            withdrawn_on = enrolled_on + timedelta(days=rng.randint(7, 7 * weeks - 1))
            withdrawals.append({"member_id": member_id, "cohort": cohort, "withdrawn_on": withdrawn_on.isoformat()})
        keen = rng.uniform(0.6, 1.4)
        day, number = enrolled_on, 1
        while day <= ends_on:
            entry = _Day(index, member_id, zone, day, number, is_working_day(day, holidays))
            if withdrawn_on is not None and day >= withdrawn_on:
                if day < withdrawn_on + timedelta(days=7) and rng.random() < 0.3:
                    after.append(entry)
            else:
                w = min(study_week(number), weeks) - 1  # early enrolments run a few days into week n+1
                effect = 1.0 if entry.working else nonworking_factor
                logged = rng.random() < min(1.0, login[w] * keen * effect)
                tasks: frozenset[str] = frozenset()
                if logged and login[w] > 0 and rng.random() < min(1.0, participation[w] / login[w]):
                    full = participation[w] > 0 and rng.random() < min(1.0, completion[w] / participation[w])
                    tasks = frozenset(TASKS) if full else _partial_tasks(rng)
                days.append((entry, logged, tasks))
            day += timedelta(days=1)
            number += 1
    generated, schedule = _realise_cohort(rng, cohort, settings, enrolments, withdrawals, days, zone_of,
                                          _end_of(ends_on), after, duplicate_share, late_share)
    return Simulation(generated, schedule, _start_of(start))


def study_cohort(start: date = date(2026, 3, 2), cohort: str = "study", prefix: str = "st", seed: int = 2025,
                 zones: tuple[str, ...] = ("Asia/Shanghai",), nonworking_factor: float = 0.85,
                 duplicate_share: float = 0.05, late_share: float = 0.1,
                 table: dict[int, tuple[str, str, str]] | None = None) -> Simulation:
    """The study's cohort: every week's member-days and login / participation / completion COUNTS are
    those of `loadtests.study.study_design` (30 members, all enrolled on `start`, withdrawals so that
    13 are followed in week 15). Which member-days hit the counts is drawn with per-member keenness
    and a working-day effect (weights), so some members are active (≥ 70 % in 28 days) and some not."""
    table = table or STUDY_TABLE
    design = study_design(table)
    rng = random.Random(seed)
    weeks = len(design.weeks)
    ends_on = start + timedelta(days=7 * weeks - 1)
    settings = _settings(ends_on, ())
    members = len(design.followed)
    enrolments, withdrawals, zone_of, after = [], [], {}, []
    keen = [rng.uniform(0.25, 1.0) for _ in range(members)]
    by_week: dict[int, list[_Day]] = {w.week: [] for w in design.weeks}
    for index, followed in enumerate(design.followed):
        member_id, zone = f"{prefix}-{index:03d}", zones[index % len(zones)]
        zone_of[member_id] = zone
        enrolments.append(
            {"member_id": member_id, "cohort": cohort, "timezone": zone, "enrolled_on": start.isoformat()}
        )
        for number in range(1, followed + 1):
            day = start + timedelta(days=number - 1)
            by_week[study_week(number)].append(_Day(index, member_id, zone, day, number, is_working_day(day)))
        if followed < 7 * weeks:
            withdrawn_on = start + timedelta(days=followed)
            withdrawals.append({"member_id": member_id, "cohort": cohort, "withdrawn_on": withdrawn_on.isoformat()})
            for extra in range(3):
                if rng.random() < 0.5:
                    day = withdrawn_on + timedelta(days=extra)
                    after.append(_Day(index, member_id, zone, day, followed + 1 + extra, is_working_day(day)))
    days = []
    for counts in design.weeks:
        pool = by_week[counts.week]
        assert len(pool) == counts.member_days, (counts, len(pool))

        def weight(d: _Day) -> float:
            return keen[d.member] * (1.0 if d.working else nonworking_factor)

        logged = _weighted_pick(rng, pool, [weight(d) for d in pool], counts.logged_in)
        participated = _weighted_pick(rng, logged, [weight(d) for d in logged], counts.participated)
        completed = set(_weighted_pick(rng, participated, [weight(d) for d in participated], counts.completed))
        logged_set, participated_set = set(logged), set(participated)
        for d in sorted(pool, key=lambda d: (d.member, d.day_number)):
            tasks = (
                frozenset(TASKS) if d in completed else _partial_tasks(rng) if d in participated_set else frozenset()
            )
            days.append((d, d in logged_set, tasks))
    generated, schedule = _realise_cohort(rng, cohort, settings, enrolments, withdrawals, days, zone_of,
                                          _end_of(ends_on), after, duplicate_share, late_share)
    return Simulation(generated, schedule, _start_of(start), design, dict(table))
