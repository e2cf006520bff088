"""The API's vectorised fold (`grid.py`) gives exactly the answers of the reference fold (`days.py`).

* Pure: random cohorts (zone changes, withdrawals past and future, re-enrolments, effective-dated
  tasks, holidays and make-up working days, a tick at any hour) and random engagement.
* Real chDB: a generated cohort with duplicates and late events, plus a zone change, a re-enrolment, a
  settings change with an effective date, a future-dated withdrawal, a make-up working day and a
  conflicting event id, stored by the sink's own converters; compared on the insert-time aggregate,
  on the raw events, and member-day by member-day.
"""

from __future__ import annotations

import json
import random
import statistics
import uuid
from datetime import date, datetime, time, timedelta, timezone
from fractions import Fraction

import numpy as np
import pytest

from contracts.members import (
    CohortConfigured,
    CohortSettings,
    MemberEnrolled,
    MemberTimezoneChanged,
    MemberWithdrawn,
)
from contracts.timeline import ZoneHistory, zone
from services.metrics import days, grid, queries
from services.metrics.clickhouse import connect
from services.metrics.rows import clock_rows, engagement_event_rows, member_rows
from services.metrics.schema import TABLE_SCHEMAS, migrate
from testsupport.cohort import generate

ZONES = ("Asia/Shanghai", "America/New_York", "Europe/Berlin", "Pacific/Kiritimati", "UTC")
TASKS = ("meal", "exercise", "meditation", "walk")
AT = datetime(2026, 1, 1, tzinfo=timezone.utc)


def every_answer(fold, intervention_weeks: int, window: tuple[date, date]) -> dict:
    out: dict = {"members": fold.member_summaries()}
    for d in ("followup", "enrolled"):
        out[f"weekly {d}"] = fold.weekly(d, intervention_weeks)
        out[f"daily {d}"] = fold.daily(d, date.min, date.max)
        out[f"daily {d} window"] = fold.daily(d, *window)
        for stage in ("all", "intervention", "open-ended"):
            out[f"daytypes {d} {stage}"] = fold.daytypes(d, stage, intervention_weeks)
    return out


def reference(calendar, now, engagement) -> queries.ReferenceFold:
    return queries.ReferenceFold(calendar, days.member_days(calendar, now, engagement))


def facts_of(p: grid.Plan, engagement) -> grid.DayFacts:
    """The engagement dict as the ClickHouse query returns it (tasks as a mask over the vocabulary)."""
    index = p.index()
    bit = {task: 1 << i for i, task in enumerate(p.vocabulary)}
    rows = [(index[m], grid.day_index(d), sum(bit.get(t, 0) for t in tasks), a)
            for (m, d), (tasks, a) in engagement.items() if m in index]
    return grid.DayFacts.of(*zip(*rows)) if rows else grid.DayFacts.of([], [], [], [])


def assert_same(calendar, now, engagement, window) -> None:
    weeks = calendar.settings.latest.intervention_weeks
    expected = reference(calendar, now, engagement)
    fast = grid.fill(grid.plan(calendar, now), facts_of(grid.plan(calendar, now), engagement))
    assert fast.member_days() == expected.member_days()
    assert every_answer(fast, weeks, window) == every_answer(expected, weeks, window)


def random_cohort(rng: random.Random) -> tuple[days.CohortCalendar, datetime, dict, tuple[date, date]]:
    start = date(2026, 3, 2) + timedelta(days=rng.randrange(40))
    records: list = []

    def settings(**kw) -> CohortSettings:
        return CohortSettings(tasks=tuple(rng.sample(TASKS, rng.randint(1, 3))),
                              intervention_weeks=rng.randint(1, 4), **kw)

    span = rng.randint(10, 60)
    ends_on = start + timedelta(days=span) if rng.random() < 0.7 else None
    records.append(CohortConfigured(event_id=uuid.uuid4(), cohort="c", occurred_at=AT, settings=settings(
        ends_on=ends_on, holidays=(start + timedelta(days=rng.randrange(20)),))))
    for _ in range(rng.randint(0, 3)):  # effective-dated changes, make-up working days among them
        on = start + timedelta(days=rng.randrange(span))
        saturday = on + timedelta(days=(5 - on.weekday()) % 7)
        records.append(CohortConfigured(
            event_id=uuid.uuid4(), cohort="c", occurred_at=AT, effective_on=on if rng.random() < 0.9 else None,
            settings=settings(ends_on=ends_on, holidays=(on + timedelta(days=rng.randrange(9)),),
                              working_days=(saturday,) if rng.random() < 0.6 else ())))
    members = [f"m{i:02d}" for i in range(rng.randint(0, 9))]
    for m in members:
        enrolled = start + timedelta(days=rng.randrange(12))
        records.append(MemberEnrolled(event_id=uuid.uuid4(), member_id=m, cohort="c", timezone=rng.choice(ZONES),
                                      enrolled_on=enrolled, occurred_at=AT))
        if rng.random() < 0.4:
            records.append(MemberTimezoneChanged(event_id=uuid.uuid4(), member_id=m, cohort="c",
                                                 timezone=rng.choice(ZONES), occurred_at=AT,
                                                 effective_on=enrolled + timedelta(days=rng.randrange(1, 30))))
        if rng.random() < 0.5:  # a withdrawal, perhaps in the future, perhaps followed by a re-enrolment
            out = enrolled + timedelta(days=rng.randrange(0, 70))
            records.append(MemberWithdrawn(event_id=uuid.uuid4(), member_id=m, cohort="c", withdrawn_on=out,
                                           occurred_at=AT))
            if rng.random() < 0.5:
                records.append(MemberEnrolled(event_id=uuid.uuid4(), member_id=m, cohort="c",
                                              timezone=rng.choice(ZONES), occurred_at=AT,
                                              enrolled_on=out + timedelta(days=rng.randrange(-3, 15))))
    calendar = days.CohortCalendar.of(records)
    now = datetime.combine(start + timedelta(days=rng.randrange(0, 90)), time(rng.randrange(24), 30), timezone.utc)
    if rng.random() < 0.05:
        now = None  # no tick yet
    engagement = {}
    for m in members + ["stranger"]:  # a member not in the cohort is ignored by both folds
        for k in range(100):
            if rng.random() < 0.5:
                tasks = frozenset(t for t in (*TASKS, "other") if rng.random() < 0.4)
                engagement[(m, start + timedelta(days=k - 5))] = (tasks, rng.randrange(0, 7))
    lo = start + timedelta(days=rng.randrange(30))
    return calendar, now, engagement, (lo, lo + timedelta(days=rng.randrange(20)))


@pytest.mark.parametrize("seed", range(60))
def test_grid_equals_the_reference_fold_on_random_cohorts(seed):
    assert_same(*random_cohort(random.Random(seed)))


def test_sums_give_statistics_stdev_bit_for_bit():
    rng = random.Random(3)
    for size in (2, 3, 7, 50, 500):
        for _ in range(40):
            values = [rng.randrange(0, rng.choice((3, 40, 10**6))) for _ in range(size)]
            got = grid.sample_sd_of_sums(len(values), sum(values), sum(v * v for v in values))
            assert got == statistics.stdev(values)
    assert grid.sample_sd_of_sums(1, 5, 25) is None and grid.sample_sd_of_sums(3, 6, 12) == 0.0
    for size in (1, 2, 5, 200):
        ratios = [(rng.randrange(0, 900), rng.randrange(1, 106)) for _ in range(size)]
        means = [Fraction(a, b) for a, b in ratios]
        assert grid.mean_and_sd_of_ratios(ratios) == (size, float(sum(means) / size), days.sample_sd(means))
    assert grid.mean_and_sd_of_ratios([]) == (0, 0.0, None)


# ---- real chDB ---------------------------------------------------------------------------------------

@pytest.fixture()
def ch(tmp_path):
    client = connect(f"chdb://{tmp_path}/chdb")
    migrate(client)
    yield client
    client.close()


def store(ch, table_rows) -> None:
    by_table: dict[str, list[dict]] = {}
    for table, row in table_rows:
        by_table.setdefault(table, []).append(row)
    for table, rows in by_table.items():
        schema = TABLE_SCHEMAS[table]
        ch.insert(table, {name: [r[name] for r in rows] for name in schema.names}, schema)


def changing_cohort() -> tuple[str, list[bytes], list[dict], bytes]:
    """A generated cohort (duplicates, late events, DST, withdrawals) whose life changes: member
    records in log order, client events in delivery order, the final tick."""
    g = generate(seed=11, members=12, weeks=6, cohort="grid", duplicate_share=0.08)
    start = date(2026, 7, 27)

    def record(kind: str, **body) -> bytes:
        return json.dumps({"type": kind, "event_id": str(uuid.uuid4()), "occurred_at": AT.isoformat(),
                           **body}, default=str).encode()

    records = [record("cohort.configured", cohort=g.cohort, settings=g.settings)]
    records += [record("member.enrolled", **e) for e in g.enrolments]
    records += [record("member.withdrawn", **w) for w in g.withdrawals]
    m = [e["member_id"] for e in g.enrolments]
    records += [
        # m[1] moves from New York to Shanghai on 08-20; m[4] moves twice.
        record("member.timezone_changed", member_id=m[1], cohort=g.cohort, timezone="Asia/Shanghai",
               effective_on="2026-08-20"),
        record("member.timezone_changed", member_id=m[4], cohort=g.cohort, timezone="Pacific/Kiritimati",
               effective_on="2026-08-05"),
        record("member.timezone_changed", member_id=m[4], cohort=g.cohort, timezone="America/Los_Angeles",
               effective_on="2026-08-25"),
        # m[2] withdraws from 08-10 and comes back on 08-17 in another zone; m[5] withdraws in the future.
        record("member.withdrawn", member_id=m[2], cohort=g.cohort, withdrawn_on="2026-08-10"),
        record("member.enrolled", member_id=m[2], cohort=g.cohort, timezone="America/New_York",
               enrolled_on="2026-08-17"),
        record("member.withdrawn", member_id=m[5], cohort=g.cohort, withdrawn_on="2026-12-01"),
        # From 08-15: two tasks only, a holiday on Wednesday 08-19, Saturday 08-22 a working day.
        record("cohort.configured", cohort=g.cohort, effective_on="2026-08-15", settings={
            **g.settings, "tasks": ["meal", "exercise"], "holidays": ["2026-08-19"], "working_days": ["2026-08-22"]}),
    ]
    events = [json.dumps(e).encode() for e in g.deliveries]
    # A conflicting re-use of an event id: the first delivery counts, whatever the second says.
    first = next(e for e in g.deliveries if e["type"] == "checkin")
    events.append(json.dumps({**first, "payload": {"task": "meditation"},
                              "occurred_at": (start + timedelta(days=9)).isoformat() + "T10:00:00+00:00"}).encode())
    # The tick: 14:00 UTC, a day still under way in the western zones.
    tick = json.dumps({"type": "clock.tick", "event_id": str(uuid.uuid4()),
                       "now": "2026-09-02T14:00:00+00:00"}).encode()
    return g.cohort, records, events, tick


def test_grid_equals_the_reference_fold_on_chdb(ch, monkeypatch):
    cohort, records, events, tick = changing_cohort()
    for i, value in enumerate(records):
        store(ch, member_rows(value, 0, i))
    rows = [r for i, value in enumerate(events) for r in engagement_event_rows(value, 1, i)]
    half = len(rows) // 2
    store(ch, rows[:half])
    store(ch, rows[half:])
    store(ch, clock_rows(tick, 0, 0))

    def compare() -> dict:
        calendar = queries.cohort_calendar(ch, cohort)
        now = queries.latest_tick(ch)
        expected = reference(calendar, now, queries.engagement(ch, calendar, cohort))
        fast = queries.cohort_fold(ch, cohort)
        assert isinstance(fast, grid.Grid)
        assert fast.member_days() == expected.member_days()
        window = (date(2026, 8, 10), date(2026, 8, 24))
        answers = every_answer(fast, calendar.settings.latest.intervention_weeks, window)
        assert answers == every_answer(expected, calendar.settings.latest.intervention_weeks, window)
        return answers

    # The conflict keeps the cohort on the raw events until a merge has dropped the later delivery
    # and the refresh has rewritten the aggregate; then the aggregate answers.
    assert not queries.aggregate_current(ch, cohort)
    on_raw = compare()
    ch.command("OPTIMIZE TABLE events FINAL")
    queries.refresh_rollup(ch, cohort, 1)
    assert queries.aggregate_current(ch, cohort)
    assert compare() == on_raw
    monkeypatch.setattr(queries, "aggregate_current", lambda ch, cohort: False)
    assert compare() == on_raw

    weekly = on_raw["weekly followup"]
    assert len(weekly) == 6 and weekly[-1]["partial"]
    assert {d["day_type"] for d in on_raw["daytypes followup all"]} == {"working", "non-working"}
    summaries = {m["member_id"]: m for m in on_raw["members"]}
    assert summaries["m-005"]["withdrawn_on"] == date(2026, 12, 1)
    assert summaries["m-001"]["timezone"] == "Asia/Shanghai"


def test_zone_days_equal_the_zone_history_rule():
    """`grid.zone_days` (vectorised) = `ZoneHistory.local_day`, around changes, DST and midnight."""
    rng = random.Random(5)
    zones = ("Asia/Beirut", "America/Havana", "Europe/Berlin", "Pacific/Kiritimati", "Pacific/Pago_Pago", "UTC")
    for _ in range(40):
        history = ZoneHistory(rng.choice(zones))
        for _ in range(rng.randint(0, 3)):
            history = history.changed(rng.choice(zones), date(2026, 3, 1) + timedelta(days=rng.randrange(250)))
        instants = [datetime(2026, 2, 20, tzinfo=timezone.utc) + timedelta(minutes=rng.randrange(0, 400 * 1440, 15))
                    for _ in range(300)]
        at = [int(i.timestamp() * 1000) for i in instants]
        names = {history.first, *(z for _, z in history.changes)}
        dates = {z: [grid.day_index(i.astimezone(zone(z)).date()) for i in instants] for z in names}
        got = grid.zone_days(history, np.array(at), {z: np.array(d) for z, d in dates.items()})
        assert got.tolist() == [grid.day_index(history.local_day(i)) for i in instants]
