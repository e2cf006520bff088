"""Differential unit test (pure, no broker): many small random cohorts through the platform's own rules
(the API's `services/metrics/grid.py` and the reference `days.py`, over `contracts.timeline`) and
through the independent count (`loadtests/recount.py`) must give the same eleven answers.

The broker acceptance test (test_changes_acceptance.py) proves the whole service on one large cohort;
this one reaches corners that cohort cannot afford: zones far apart (UTC+14, UTC−11, half-hour
offsets), zone changes on consecutive days, withdrawals dated on or before the enrolment, re-enrolments
after the cohort's end, settings re-sent for the same date, ticks of uneven length. Every command is
first checked by ingest's own guards (`services.ingest.directory`), so only what ingest accepts is
compared."""

from __future__ import annotations

import random
import uuid
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from contracts.members import (
    CohortConfigured,
    CohortSettings,
    EnrollmentRequest,
    MemberEnrolled,
    MemberTimezoneChanged,
    MemberWithdrawn,
    TimezoneChangeRequest,
)
from loadtests.recount import QUERIES, differences, recount
from services.ingest.directory import Directory, Refusal
from services.metrics import days, grid, queries

from .test_grid import facts_of

ZONES = ("Pacific/Kiritimati", "Pacific/Pago_Pago", "Asia/Kolkata", "America/Los_Angeles", "Europe/London",
         "Asia/Shanghai", "Pacific/Auckland", "America/St_Johns")
TASKS = ("meal", "exercise", "meditation")
WRITTEN = datetime(2026, 3, 1, tzinfo=timezone.utc)  # when a record was written: no rule reads it


class Scenario:
    """Requests (for the count) and the `members` records ingest would write (for the platform)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng, self.directory = rng, Directory()
        self.steps: list[tuple] = []
        self.records: list = []
        self.events: list[dict] = []

    def record(self, record, step: tuple) -> None:
        self.records.append(record)
        self.directory.fold(record)
        self.steps.append(step)

    def settings(self, body: dict, effective_on: date | None) -> None:
        when = self.directory.settings_effective_on(effective_on)
        if not isinstance(when, Refusal):
            self.record(CohortConfigured(event_id=uuid.uuid4(), cohort="c", settings=CohortSettings(**body),
                                         effective_on=when, occurred_at=WRITTEN),
                        ("PUT", "/v1/cohorts/c/settings", body,
                         {"effective_on": effective_on.isoformat()} if effective_on else None))

    def enrol(self, member: str, zone: str, on: date) -> None:
        body = {"member_id": member, "cohort": "c", "timezone": zone, "enrolled_on": on.isoformat()}
        verdict = self.directory.enrolment(EnrollmentRequest(**body))
        if not isinstance(verdict, Refusal) and verdict.existing is None:
            self.record(MemberEnrolled(event_id=uuid.uuid4(), occurred_at=WRITTEN, **body),
                        ("POST", "/v1/enrollments", body, None))

    def withdraw(self, member: str, on: date) -> None:
        body = {"member_id": member, "cohort": "c", "withdrawn_on": on.isoformat()}
        self.record(MemberWithdrawn(event_id=uuid.uuid4(), occurred_at=WRITTEN, **body),
                    ("POST", "/v1/withdrawals", body, None))

    def move(self, member: str, zone: str, on: date) -> None:
        request = TimezoneChangeRequest(timezone=zone, effective_on=on)
        if not isinstance(self.directory.timezone_change(member, request), Refusal):
            self.record(MemberTimezoneChanged(event_id=uuid.uuid4(), member_id=member, cohort="c", timezone=zone,
                                              effective_on=on, occurred_at=WRITTEN),
                        ("PUT", f"/v1/members/{member}/timezone", {"timezone": zone, "effective_on": on.isoformat()},
                         None))

    def send(self, batch: list[dict]) -> None:
        self.events += batch
        self.steps.append(("POST", "/v1/events", batch, None))

    def tick(self, now: datetime) -> None:
        self.directory.fold_tick(now)
        self.steps.append(("POST", "/v1/admin/clock", {"now": now.isoformat()}, None))


def _event(rng: random.Random, member: str, at: datetime, reuse: list[dict]) -> dict:
    kind = rng.choice(["login", "checkin", "meditation_play", "post"])
    payload = {"task": rng.choice(TASKS)} if kind == "checkin" else \
        {"content_id": "x", "seconds": 60, "completed": rng.random() < 0.5} if kind == "meditation_play" else \
        {"channel": "community"} if kind == "post" else {}
    fresh = str(uuid.UUID(int=rng.getrandbits(128)))
    event_id = rng.choice(reuse)["event_id"] if reuse and rng.random() < 0.1 else fresh  # a re-used id: a conflict
    return {"event_id": event_id, "type": kind, "member_id": member, "occurred_at": at.isoformat(), "payload": payload}


def scenario(seed: int) -> Scenario:
    rng = random.Random(seed)
    s = Scenario(rng)
    start = date(2026, 3, 2) + timedelta(days=rng.randint(0, 20))
    ends_on = start + timedelta(days=rng.randint(10, 45))
    base = {"tasks": list(TASKS), "intervention_weeks": rng.randint(1, 3), "active_login_threshold": 0.5,
            "ends_on": ends_on.isoformat()}
    s.settings(base, None)
    members = [f"m{i}" for i in range(rng.randint(1, 4))]
    for m in members:
        s.enrol(m, rng.choice(ZONES), start + timedelta(days=rng.randint(0, 3)))
    now = datetime.combine(start - timedelta(days=1), time(0), timezone.utc)
    while now.date() <= ends_on + timedelta(days=2):
        batch = []
        for m in members:
            if rng.random() < 0.7:  # written on the member's wall clock, or another zone's (the instant is what counts)
                zone = rng.choice(ZONES) if rng.random() < 0.3 else s.directory.members[m].zones.zone_on(now.date())
                at = (now + timedelta(hours=rng.uniform(-30, 12))).astimezone(ZoneInfo(zone))
                batch.append(_event(rng, m, at, s.events))
        if batch:
            s.send(batch)
        m, roll = rng.choice(members), rng.random()
        today = s.directory.members[m].local_day(now) if s.directory.latest_tick else now.date()
        if roll < 0.08:
            s.move(m, rng.choice(ZONES), today + timedelta(days=rng.randint(0, 3)))
        elif roll < 0.14:
            s.withdraw(m, today + timedelta(days=rng.randint(-2, 6)))
        elif roll < 0.20:
            s.enrol(m, rng.choice(ZONES), today + timedelta(days=rng.randint(-2, 4)))
        elif roll < 0.24:
            s.settings({**base, "tasks": rng.sample(TASKS, rng.randint(1, 3)), "intervention_weeks": rng.randint(1, 3),
                        "holidays": [(now.date() + timedelta(days=rng.randint(0, 5))).isoformat()],
                        "working_days": [(now.date() + timedelta(days=rng.randint(0, 6))).isoformat()]},
                       now.date() + timedelta(days=rng.randint(0, 3)))
        now += timedelta(hours=rng.choice([6, 12, 24, 37]))
        s.tick(now)
    return s


def _json(rows: list[dict]) -> list[dict]:
    return [{k: v.isoformat() if isinstance(v, date) else v for k, v in r.items()} for r in rows]


def platform_folds(s: Scenario) -> dict[str, object]:
    """The cohort as services/metrics/queries.py folds it, minus ClickHouse (the calendar from the records,
    configurations first; engagement from each event's first delivery): the API's numpy grid and the
    reference fold of days.py."""
    calendar = days.CohortCalendar.of([r for r in s.records if isinstance(r, CohortConfigured)]
                                      + [r for r in s.records if not isinstance(r, CohortConfigured)])
    first: dict[tuple[str, str], dict] = {}
    for e in s.events:
        first.setdefault((e["member_id"], e["event_id"]), e)
    engagement: dict[tuple[str, date], tuple[frozenset[str], int]] = {}
    for (member, _), e in first.items():
        key = (member, calendar.timelines[member].local_day(datetime.fromisoformat(e["occurred_at"])))
        tasks, actions = engagement.get(key, (frozenset(), 0))
        if e["type"] == "checkin":
            tasks |= {e["payload"]["task"]}
        if e["type"] == "meditation_play" and e["payload"]["completed"]:
            tasks |= {"meditation"}
        engagement[key] = (tasks, actions + (e["type"] in ("checkin", "meditation_play")))
    now = s.directory.latest_tick
    plan = grid.plan(calendar, now)
    return {"grid.py": grid.fill(plan, facts_of(plan, engagement)),
            "days.py": queries.ReferenceFold(calendar, days.member_days(calendar, now, engagement))}


def answers(fold) -> dict[str, list[dict]]:
    out = {}
    for query in QUERIES:
        endpoint, _, args = query.partition("?")
        p = dict(a.split("=") for a in args.split("&")) if args else {}
        out[query] = _json(
            fold.weekly(p["denominator"], fold.intervention_weeks) if endpoint == "weekly" else
            fold.daily(p["denominator"], date.min, date.max) if endpoint == "daily" else
            fold.member_summaries() if endpoint == "members" else
            fold.daytypes(p["denominator"], p["stage"], fold.intervention_weeks))
    return out


def test_small_random_cohorts_agree_with_the_independent_count():
    for seed in range(150):
        s = scenario(seed)
        truth = recount(s.steps)
        for name, fold in platform_folds(s).items():
            diffs = differences(truth, answers(fold))
            assert not diffs, f"seed {seed}, {name}: " + "; ".join(diffs[:10])
