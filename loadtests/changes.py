"""The second acceptance cohort: a cohort whose members and settings CHANGE while it runs (pure, seeded).

Where `loadtests.scenario` plans every member-day first and counts its truth from the plan, this
cohort has no plan: it is only the requests a real deployment would receive, in the order they are
sent (`steps`), and its truth is counted from those requests by `loadtests.recount`, written apart
from the platform's code. docs/metrics.md ("Acceptance") describes both.

Over five weeks (12 October – 15 November 2026: Europe's DST end on 25 October, America's on
1 November) dozens of members in four zones send client events at edge-of-day local times, with
duplicate deliveries, uploads up to three days late, conflicting re-uses of an event id and ids that
another member also uses, while the admin API:

* moves members to another zone (some twice) from a date in the near future;
* withdraws members and re-enrols them later (one in another zone, one withdrawn again, one only
  after the cohort's end), and one member on the enrolment day itself;
* records withdrawals dated in the future (one beyond the last clock tick, one postponed);
* changes the cohort settings twice with an effective date (tasks, a holiday, a make-up working
  Saturday, the activity threshold; one change sent wrong, then corrected for the same date).

The clock moves every 12 hours (one old tick is sent again late); every command is sent when the
platform accepts it (an effective date not before the current local date).
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

Step = tuple[str, str, object, dict | None]  # (HTTP method, path, JSON body, query parameters)

ZONES = ("Asia/Shanghai", "America/New_York", "Europe/Berlin", "Europe/London")  # London: UTC+0 in winter
TASKS = ("meal", "exercise", "meditation")
# Local wall times at and near midnight and inside the repeated DST hour (02:30 on a fall-back day).
EDGE_TIMES = (time(0, 0), time(0, 5), time(0, 40), time(2, 30), time(7, 30), time(12, 15), time(19, 45),
              time(23, 20), time(23, 59, 59, 999000))
MAX_BATCH = 500
DAY = timedelta(days=1)
TICK_EVERY = timedelta(hours=12)


@dataclass
class ChangesCohort:
    cohort: str
    steps: list[Step]
    split: int  # index of a step boundary after about 60 % of the steps (kill the worker there)

    @property
    def deliveries(self) -> list[dict]:
        return [e for method, path, body, _ in self.steps if path == "/v1/events" for e in body]

    def paths(self, prefix: str) -> list[Step]:
        return [s for s in self.steps if s[1].startswith(prefix)]


@dataclass
class _Member:
    member_id: str
    zone: str
    enrolled_on: date
    zone_changes: list[tuple[date, str]]  # (effective_on, new zone), sorted
    keen: float

    def zone_on(self, day: date) -> str:
        """The zone whose wall clock the member lives `day` on (to place the member's own events)."""
        name = self.zone
        for effective_on, new in self.zone_changes:
            if day >= effective_on:
                name = new
        return name


def _noon(day: date) -> datetime:
    return datetime.combine(day, time(12), timezone.utc)


def changes_cohort(seed: int = 13, members: int = 36, start: date = date(2026, 10, 12), cohort: str = "changes",
                   prefix: str = "chg", weeks: int = 5, duplicate_share: float = 0.05, late_share: float = 0.1,
                   conflict_share: float = 0.03) -> ChangesCohort:
    rng = random.Random(seed)
    ends_on = start + timedelta(days=7 * weeks - 1)
    # The last tick (dates of the default start): 16 November 02:00 UTC — 15 November is over in
    # Shanghai and Berlin but is still New York's today (partial rows); one future withdrawal has not begun.
    final = datetime.combine(ends_on + DAY, time(2), timezone.utc)
    timed: list[tuple[datetime, int, Step]] = []  # (when, order at that instant, step)

    def at(when: datetime, step: Step, order: int = 1) -> None:
        timed.append((when, order, step))

    settings_path = f"/v1/cohorts/{cohort}/settings"
    first_settings = {"tasks": list(TASKS), "intervention_weeks": 3, "active_login_threshold": 0.7,
                      "ends_on": ends_on.isoformat(), "holidays": [(start + timedelta(days=3)).isoformat()]}
    setup: list[Step] = [("PUT", settings_path, first_settings, None)]
    # From 23 October (default start): exercise and meal only; Thursday 29 October a holiday, Saturday
    # 31 October worked.
    # First sent with a mistake (meal only), corrected a day later for the same date: the later one wins.
    second = start + timedelta(days=11)
    at(_noon(second - 3 * DAY), ("PUT", settings_path, {**first_settings, "tasks": ["meal"]},
                                 {"effective_on": second.isoformat()}))
    at(_noon(second - 2 * DAY), ("PUT", settings_path, {
        **first_settings, "tasks": ["meal", "exercise"], "holidays": [(start + timedelta(days=17)).isoformat()],
        "working_days": [(start + timedelta(days=19)).isoformat()]}, {"effective_on": second.isoformat()}))
    # From 3 November: all three tasks again; Thursday 5 November a holiday, Saturday 7 November worked; a
    # lower activity threshold (not date-effective: it judges every member).
    third = start + timedelta(days=22)
    at(_noon(third - 2 * DAY), ("PUT", settings_path, {
        **first_settings, "active_login_threshold": 0.6, "holidays": [(start + timedelta(days=24)).isoformat()],
        "working_days": [(start + timedelta(days=26)).isoformat()]}, {"effective_on": third.isoformat()}))

    people = [_Member(f"{prefix}-{i:03d}", ZONES[i % len(ZONES)], start + timedelta(days=i % 3), [],
                      rng.uniform(0.45, 1.0)) for i in range(members)]
    order = list(range(members))
    rng.shuffle(order)
    movers, returners, leavers = order[:8], order[8:13], order[13:19]
    # Two whose follow-up ends with no day left: withdrawn on the enrolment day; re-enrolled after the end.
    at_once, after_end = (people[order[19]], people[order[20]]) if members > 20 else (None, None)
    for i in movers:
        m = people[i]
        effective_on = m.enrolled_on + timedelta(days=rng.randint(6, 20))
        m.zone_changes.append((effective_on, rng.choice([z for z in ZONES if z != m.zone])))
        if rng.random() < 0.4:  # some move twice
            later = effective_on + timedelta(days=rng.randint(5, 9))
            m.zone_changes.append((later, rng.choice([z for z in ZONES if z != m.zone_changes[-1][1]])))
        for effective_on, new in m.zone_changes:
            at(_noon(effective_on - 2 * DAY), ("PUT", f"/v1/members/{m.member_id}/timezone",
                                               {"timezone": new, "effective_on": effective_on.isoformat()}, None))
    for n, i in enumerate(returners):
        m = people[i]
        withdrawn_on = m.enrolled_on + timedelta(days=rng.randint(5, 13))
        back_on = withdrawn_on + timedelta(days=rng.randint(2, 8))
        zone = m.zone
        if n == 0:  # re-enrols in another zone: a zone change from the re-enrolment date
            zone = next(z for z in ZONES if z != m.zone)
            m.zone_changes.append((back_on, zone))
        at(_noon(withdrawn_on - 2 * DAY), ("POST", "/v1/withdrawals", {
            "member_id": m.member_id, "cohort": cohort, "withdrawn_on": withdrawn_on.isoformat()}, None))
        at(_noon(back_on - 2 * DAY), ("POST", "/v1/enrollments", {
            "member_id": m.member_id, "cohort": cohort, "timezone": zone, "enrolled_on": back_on.isoformat()}, None))
        if n == 1:  # withdraws again after the re-enrolment, announced a few days ahead
            again = back_on + timedelta(days=rng.randint(6, 10))
            at(_noon(again - 4 * DAY), ("POST", "/v1/withdrawals", {
                "member_id": m.member_id, "cohort": cohort, "withdrawn_on": again.isoformat()}, None))
    for n, i in enumerate(leavers):
        m = people[i]
        announced = m.enrolled_on + timedelta(days=rng.randint(4, 24))
        withdrawn_on = announced + timedelta(days=rng.randint(2, 9))
        if n == 0:  # dated after the last tick: still in follow-up at the end
            announced, withdrawn_on = ends_on - 3 * DAY, ends_on + 5 * DAY
        at(_noon(announced), ("POST", "/v1/withdrawals", {
            "member_id": m.member_id, "cohort": cohort, "withdrawn_on": withdrawn_on.isoformat()}, None))
        if n == 1:  # the date is corrected (postponed) before it arrives: a second withdrawal replaces it
            at(_noon(announced + DAY), ("POST", "/v1/withdrawals", {
                "member_id": m.member_id, "cohort": cohort,
                "withdrawn_on": (withdrawn_on + timedelta(days=4)).isoformat()}, None))

    if after_end:
        left_on = after_end.enrolled_on + timedelta(days=rng.randint(8, 14))
        at(_noon(left_on - 2 * DAY), ("POST", "/v1/withdrawals", {
            "member_id": after_end.member_id, "cohort": cohort, "withdrawn_on": left_on.isoformat()}, None))
        at(_noon(ends_on - DAY), ("POST", "/v1/enrollments", {
            "member_id": after_end.member_id, "cohort": cohort, "timezone": after_end.zone,
            "enrolled_on": (ends_on + DAY).isoformat()}, None))

    for m in people:
        setup.append(("POST", "/v1/enrollments", {"member_id": m.member_id, "cohort": cohort, "timezone": m.zone,
                                                  "enrolled_on": m.enrolled_on.isoformat()}, None))
    if at_once:
        setup.append(("POST", "/v1/withdrawals", {"member_id": at_once.member_id, "cohort": cohort,
                                                  "withdrawn_on": at_once.enrolled_on.isoformat()}, None))

    events = _events(rng, people, start - DAY, ends_on + DAY)
    _share_some_ids(rng, events)
    for delivered, event in _deliveries(rng, events, duplicate_share, late_share, conflict_share):
        if delivered <= final:
            at(delivered, ("POST", "/v1/events", event, None), order=0)
    tick = datetime.combine(start - DAY, time(0), timezone.utc)
    while tick < final:
        at(tick, ("POST", "/v1/admin/clock", {"now": tick.isoformat()}, None), order=2)
        tick += TICK_EVERY
    at(final, ("POST", "/v1/admin/clock", {"now": final.isoformat()}, None), order=2)
    stale = datetime.combine(start + 20 * DAY, time(0), timezone.utc)  # a tick sent again late: ignored
    at(stale + 30 * TICK_EVERY, ("POST", "/v1/admin/clock", {"now": stale.isoformat()}, None), order=2)

    steps = setup + _batched([s for _, _, s in sorted(timed, key=lambda x: (x[0], x[1]))])
    ticks = [i for i, s in enumerate(steps) if s[1] == "/v1/admin/clock"]
    split = next(i + 1 for i in ticks if i + 1 >= len(steps) * 3 // 5)
    return ChangesCohort(cohort, steps, split)


def _batched(steps: list[Step]) -> list[Step]:
    """Consecutive single events become one POST /v1/events of at most MAX_BATCH (order kept)."""
    out: list[Step] = []
    for step in steps:
        if step[1] == "/v1/events":
            if out and out[-1][1] == "/v1/events" and len(out[-1][2]) < MAX_BATCH:
                out[-1][2].append(step[2])
            else:
                out.append(("POST", "/v1/events", [step[2]], None))
        else:
            out.append(step)
    return out


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _events(rng: random.Random, people: list[_Member], first: date, last: date) -> list[dict]:
    """Each member's events of every day from `first` to `last` (before enrolment, in a gap, after a
    withdrawal or after the cohort's end included: those must not count), at the wall times of the
    zone the member lives in that day."""
    out = []
    for m in people:
        day = first
        while day <= last:
            week = max(0, (day - m.enrolled_on).days) // 7 + 1
            if rng.random() < m.keen * (0.97 - 0.05 * week):
                out += _day_events(rng, m.member_id, m.zone_on(day), day)
            day += DAY
    return out


def _day_events(rng: random.Random, member_id: str, zone: str, day: date) -> list[dict]:
    done = [t for t in TASKS if rng.random() < 0.55]
    out = []

    def emit(kind: str, payload: dict) -> None:
        occurred = datetime.combine(day, rng.choice(EDGE_TIMES), ZoneInfo(zone))
        out.append({"event_id": _uuid(rng), "type": kind, "member_id": member_id,
                    "occurred_at": occurred.isoformat(), "payload": payload})

    if rng.random() < 0.6:
        emit("login", {})
    for task in done:
        if task == "meditation" and rng.random() < 0.5:
            emit("meditation_play", {"content_id": "calm-10", "seconds": 600, "completed": True})
        else:
            emit("checkin", {"task": task, **({"steps": rng.randint(100, 9000)} if task == "exercise" else {})})
    for _ in range(rng.randint(0, 2)):  # actions that mark nothing new
        emit("meditation_play", {"content_id": "sleep-5", "seconds": 120, "completed": False})
    if not out or rng.random() < 0.25:
        emit("post", {"channel": rng.choice(["community", "chat_room", "buddy"])})
    return out


def _share_some_ids(rng: random.Random, events: list[dict]) -> None:
    """About 1 % of events re-use another member's event id: a different (member, event id), so both count."""
    for event in events:
        if rng.random() < 0.01:
            other = rng.choice(events)
            if other["member_id"] != event["member_id"]:
                event["event_id"] = other["event_id"]


def _conflicting(rng: random.Random, event: dict) -> dict:
    """Another event under the same (member, event id): other type, task or day. Never counted."""
    moved = datetime.fromisoformat(event["occurred_at"]) + timedelta(hours=rng.choice((-30, -5, 7, 26)))
    kind = rng.choice(["checkin", "meditation_play", "login"])
    payload = {"task": rng.choice(TASKS)} if kind == "checkin" else \
        {"content_id": "calm-10", "seconds": 600, "completed": True} if kind == "meditation_play" else {}
    return {**event, "type": kind, "payload": payload, "occurred_at": moved.isoformat()}


def _deliveries(rng: random.Random, events: list[dict], duplicate_share: float, late_share: float,
                conflict_share: float) -> list[tuple[datetime, dict]]:
    """(delivered at, event): at occurrence, `late_share` 1–72 h later; then exact copies and
    conflicting re-uses of the id, each after the original delivery."""
    keyed = []
    for i, event in enumerate(events):
        at = datetime.fromisoformat(event["occurred_at"])
        if rng.random() < late_share:
            at += timedelta(hours=rng.uniform(1, 72))
        keyed.append((at, i, event))
    extra = []
    for at, i, event in keyed:
        if rng.random() < duplicate_share:
            extra.append((at + timedelta(hours=rng.uniform(0.1, 48)), i, dict(event)))
        if rng.random() < conflict_share:
            extra.append((at + timedelta(hours=rng.uniform(0.1, 48)), i, _conflicting(rng, event)))
    return [(at, e) for at, _, e in sorted(keyed + extra, key=lambda x: (x[0], x[1]))]
