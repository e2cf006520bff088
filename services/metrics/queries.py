"""The published numbers, from the de-duplicated raw events in ClickHouse and the pure rules.

* ClickHouse answers what each member did per local day: from the raw events, each (`member_id`,
  `event_id`) its FIRST delivery in log order (`argMin(…, kafka_offset)`), whatever a later delivery
  carries (a duplicate, a replayed batch or a conflicting re-use of the id never changes a number,
  merged or not). Local days: ClickHouse's `toDate(ts, tz)` needs a constant zone, so the query carries
  one `multiIf` branch per zone.
* Members whose zone changed (zone history, docs/metrics.md) are bucketed here, in Python, from their
  first deliveries with `contracts.timeline` (rare; exact).
* The cohort's calendar — enrolments, withdrawals, re-enrolments, zone changes, effective-dated
  settings — is folded from `member_records` in log order. `days.py` (pure) is the definition of
  member-days and figures; the API computes the same with `grid.py` (pure, numpy), which
  `tests/test_grid.py` proves equal to it.
* Speed (docs/metrics.md "How answers are computed"): per member-day engagement is read from
  `member_day_events`, sets ClickHouse maintains at insert time, whenever a per-request check proves
  they describe exactly the cohort's raw events (`aggregate_current`); otherwise from the raw events
  themselves. Both give identical numbers (tests/test_aggregate.py, bench/metrics_query.py). The
  query returns numbers only (member index, day, bit mask of the tasks done, actions), turned into
  numpy arrays without a Python object per row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

import numpy as np
import pyarrow as pa

from contracts.members import CohortConfigured, parse_member_record
from contracts.metrics_api import (
    CohortSummary,
    DayRates,
    DayTypeRates,
    Denominator,
    MemberSummary,
    StageFilter,
    WeekRates,
    intervention_summary,
)

from . import days, grid
from .clickhouse import ClickHouse
from .days import CohortCalendar
from .schema import EVENT_FINGERPRINT, MEMBER_DAY_EVENTS_SELECT

_ZONE = re.compile(r"^[A-Za-z0-9_+\-/]{1,64}$")


def cohort_exists(ch: ClickHouse, cohort: str) -> bool:
    """Enrolled members or settings: its `members` records (both tables are keyed by cohort first, so
    this reads a few granules, where `enrolments`, keyed by member, would be scanned)."""
    rows = ch.query("SELECT (SELECT count() FROM member_records WHERE cohort = {c:String}) + "
                    "(SELECT count() FROM cohorts WHERE cohort = {c:String}) AS n", {"c": cohort})
    return rows[0]["n"] > 0


def cohort_calendar(ch: ClickHouse, cohort: str) -> CohortCalendar:
    """The cohort's `members` records, folded in log order (a member's records share a partition)."""
    rows = ch.query("SELECT record FROM member_records FINAL WHERE cohort = {c:String} "
                    "ORDER BY kafka_partition, kafka_offset", {"c": cohort})
    configs, others = [], []
    for r in rows:
        record = parse_member_record(r["record"])
        (configs if isinstance(record, CohortConfigured) else others).append(record)
    return CohortCalendar.of([*configs, *others])


def latest_tick(ch: ClickHouse) -> datetime | None:
    rows = ch.query("SELECT max(now) AS now, count() AS n FROM clock_ticks")
    return rows[0]["now"] if rows and rows[0]["n"] else None


def _local_date(expr: str, zones: list[str]) -> str:
    """`expr` (a DateTime64) as a local Date in the row's `timezone`, one constant zone per branch."""
    if not zones:
        return f"toDate({expr}, 'UTC')"
    branches = []
    for zone in zones:
        if not _ZONE.match(zone):
            raise ValueError(f"unexpected zone name {zone!r}")
        branches += [f"timezone = '{zone}'", f"toDate({expr}, '{zone}')"]
    return f"multiIf({', '.join(branches)}, toDate({expr}, 'UTC'))"


@dataclass(frozen=True)
class Scope:
    """What the engagement SQL needs: the cohort, its zones, whether the aggregate may answer."""

    cohort: str
    zones: list[str]
    aggregate_current: bool = False


def scope(ch: ClickHouse, cohort: str) -> Scope:
    return Scope(cohort, sorted(set(stored_zones(ch, cohort).values())), aggregate_current(ch, cohort))


def stored_zones(ch: ClickHouse, cohort: str) -> dict[str, str]:
    """member → the zone of its latest enrolment, the one ClickHouse buckets its events in."""
    return {r["member_id"]: r["timezone"] for r in ch.query(
        "SELECT member_id, timezone FROM enrolments FINAL WHERE cohort = {cohort:String}", {"cohort": cohort})}


def moved_members(calendar: CohortCalendar, stored: dict[str, str]) -> list[str]:
    """Members ClickHouse cannot bucket alone: a zone history, or a zone other than the stored one."""
    return sorted(m for m in calendar.timelines if calendar.single_zone(m) != stored.get(m))


def engagement(
    ch: ClickHouse, calendar: CohortCalendar, cohort: str
) -> dict[tuple[str, date], tuple[frozenset[str], int]]:
    """(member, local day) → (tasks done, actions), from the first delivery of every event: the input
    of the reference fold `days.member_days`."""
    sc = scope(ch, cohort)
    # ClickHouse buckets a member by the zone of its latest enrolment: right for members who never
    # changed zone and still live in it; everyone else is bucketed below with the zone history.
    moved = moved_members(calendar, stored_zones(ch, cohort))
    sql = AGGREGATE_DAYS_SQL if sc.aggregate_current else raw_days_sql(sc)
    out = {(r["member_id"], r["day"]): (frozenset(r["tasks"]), r["actions"])
           for r in ch.query(sql, {"cohort": cohort}) if r["member_id"] not in moved}
    out.update(_moved_engagement(ch, calendar, moved))
    return out


def _moved_engagement(ch: ClickHouse, calendar: CohortCalendar,
                      moved: list[str]) -> dict[tuple[str, date], tuple[frozenset[str], int]]:
    folded: dict[tuple[str, date], tuple[set[str], int]] = {}
    if moved:
        for r in ch.query(FIRST_DELIVERIES_SQL, {"members": moved}):
            key = (r["member_id"], calendar.timelines[r["member_id"]].local_day(r["occurred_at"]))
            tasks, actions = folded.get(key, (set(), 0))
            folded[key] = (tasks | set(r["tasks"]), actions + r["action"])
    return {k: (frozenset(t), a) for k, (t, a) in folded.items()}


FIRST_DELIVERIES_SQL = """
    SELECT member_id, argMin(occurred_at, kafka_offset) AS occurred_at, argMin(tasks, kafka_offset) AS tasks,
           argMin(action, kafka_offset) AS action
    FROM events WHERE member_id IN {members:Array(String)} GROUP BY member_id, event_id"""


def cohort_days(ch: ClickHouse, cohort: str) -> tuple[CohortCalendar, list[days.MemberDay]]:
    """Every member-day of the cohort (what `days.member_days` returns), computed as the API does."""
    f = cohort_fold(ch, cohort)
    return f.calendar, f.member_days()


def cohort_fold(ch: ClickHouse, cohort: str, now: datetime | None = None) -> grid.Grid | ReferenceFold:
    """The cohort's member-days as numpy columns; `days.py`'s fold for a cohort with more distinct
    tasks than a bit mask holds (never seen in practice, but still answered exactly). `now`: the
    latest tick, when the caller has read it already and judges other figures by the same one."""
    calendar = cohort_calendar(ch, cohort)
    now = now or latest_tick(ch)
    try:
        p = grid.plan(calendar, now)
    except grid.TooManyTasks:
        return ReferenceFold(calendar, days.member_days(calendar, now, engagement(ch, calendar, cohort)))
    return grid.fill(p, day_facts(ch, p, cohort))


def day_facts(ch: ClickHouse, p: grid.Plan, cohort: str) -> grid.DayFacts:
    """What each member of the plan did per local day, as arrays (see `grid.DayFacts`)."""
    stored = stored_zones(ch, cohort)
    moved = moved_members(p.calendar, stored)
    params = {"cohort": cohort, "members": p.members}
    if aggregate_current(ch, cohort):
        table = ch.query_arrow(AGGREGATE_FACTS_SQL, params)
    else:
        raw = raw_days_sql(Scope(cohort, sorted(set(stored.values()))))
        table = ch.query_arrow(f"SELECT member_id, toInt64(day) AS day, tasks, toInt64(actions) AS actions "
                               f"FROM ({raw}) WHERE member_id IN {{members:Array(String)}}", params)
    facts = grid.facts_from_columns(p, table.column("member_id"), table.column("day").to_numpy(),
                                    table.column("tasks"), table.column("actions").to_numpy())
    if not moved:
        return facts
    index = p.index()
    return grid.DayFacts.concat([facts.without([index[m] for m in moved]), _moved_facts(ch, p, moved)])


def _moved_facts(ch: ClickHouse, p: grid.Plan, moved: list[str]) -> grid.DayFacts:
    """The members with a zone history, from their first deliveries: ClickHouse gives each event's
    date in every zone of those histories, numpy picks the zone in force (`grid.zone_days`)."""
    histories = {m: p.calendar.timelines[m].zones for m in moved}
    zones = sorted({z for h in histories.values() for z in (h.first, *(name for _, name in h.changes))})
    if any(not _ZONE.match(z) for z in zones):
        raise ValueError("unexpected zone name")
    dates = ", ".join(f"toInt64(toDate(occurred_at, '{z}')) AS d{i}" for i, z in enumerate(zones))
    table = ch.query_arrow(
        f"SELECT member_id, toInt64(toUnixTimestamp64Milli(occurred_at)) AS at, tasks, toInt64(action) AS action, "
        f"{dates} FROM ({FIRST_DELIVERIES_SQL}) ORDER BY member_id", {"members": moved})
    member_ids = table.column("member_id").to_numpy(zero_copy_only=False)
    at = table.column("at").to_numpy()
    by_zone = {z: table.column(f"d{i}").to_numpy() for i, z in enumerate(zones)}
    day = np.zeros(len(at), np.int64)
    for m, history in histories.items():
        rows = member_ids == m
        day[rows] = grid.zone_days(history, at[rows], {z: d[rows] for z, d in by_zone.items()})
    events = grid.facts_from_columns(p, table.column("member_id"), day, table.column("tasks"),
                                     table.column("action").to_numpy())
    return grid.per_member_day(events)


# From `member_day_events` (migration 11) while `aggregate_current` holds: every row of a cohort
# member is then bucketed in its stored zone, so FINAL gives each (member, day) once, as plain
# arrays (no aggregate state to decode).
AGGREGATE_FACTS_SQL = """
    SELECT member_id, toInt64(day) AS day, tasks, toInt64(length(actions)) AS actions
    FROM member_day_events FINAL WHERE member_id IN {members:Array(String)}"""


def raw_days_sql(sc: Scope) -> str:
    """Per member-day engagement computed from the de-duplicated raw events (the definition)."""
    event_day = _local_date("occurred_at", sc.zones)
    return f"""
        SELECT ev.ev_member AS member_id, {event_day} AS day,
               arrayDistinct(arrayFlatten(groupArray(ev.ev_tasks))) AS tasks, toUInt64(sum(ev.ev_action)) AS actions
        FROM (
            SELECT member_id AS ev_member, argMin(occurred_at, kafka_offset) AS occurred_at,
                   argMin(tasks, kafka_offset) AS ev_tasks, argMin(action, kafka_offset) AS ev_action
            FROM events
            WHERE member_id IN (SELECT member_id FROM enrolments FINAL WHERE cohort = {{cohort:String}})
            GROUP BY member_id, event_id
        ) AS ev
        INNER JOIN (SELECT member_id, timezone FROM enrolments FINAL WHERE cohort = {{cohort:String}}) AS z
            ON ev.ev_member = z.member_id
        GROUP BY member_id, day"""


# The same per member-day engagement from `member_day_events` (schema migration 11), which ClickHouse
# maintains at insert time: valid only when `aggregate_current` holds for the cohort (see `scope`).
AGGREGATE_DAYS_SQL = """
        SELECT member_id, day, groupUniqArrayArray(tasks) AS tasks,
               toUInt64(length(groupUniqArrayArray(actions))) AS actions
        FROM member_day_events FINAL
        WHERE member_id IN (SELECT member_id FROM enrolments FINAL WHERE cohort = {cohort:String})
        GROUP BY member_id, day"""

# Whether `member_day_events` describes exactly the cohort's de-duplicated raw events. Its materialized
# view adds every row ever inserted into `events` to the aggregate, and a second one adds the row's
# (member, event id, fingerprint of what the aggregate reads) to `aggregated_events`. Rows only ever
# LEAVE `events` otherwise (deletions, truncation before a rebuild), so when `events` still holds as
# many distinct keys as the aggregate has seen distinct (key, fingerprint) pairs (both counted `FINAL`:
# de-duplicated, whether merged or not), it holds exactly those events AND no key was delivered twice
# with different content (a conflict: the aggregate would have added the later delivery too).
# Further every aggregate row must have been bucketed in the member's CURRENT time zone (not before
# the enrolment arrived, not in a zone since changed). Otherwise the cohort is answered from the raw
# events, exact but slower, until the rollup refresh has rewritten its aggregate (`repair_aggregate`);
# a cohort with a conflict stays on the raw events. The cohort's members are passed as a list (one
# set built per query) rather than as a subquery per clause (each one a read of `enrolments`), and
# each row's stored zone is found by `transform` (a hash lookup; `indexOf` scans the list per row).
AGGREGATE_CHECK_SQL = """
    SELECT (SELECT count() FROM events FINAL WHERE member_id IN {members:Array(String)}) AS raw_events,
           (SELECT count() FROM aggregated_events FINAL WHERE member_id IN {members:Array(String)}) AS seen_events,
           (SELECT countIf(timezone != transform(member_id, {members:Array(String)}, {zones:Array(String)}, ''))
            FROM member_day_events WHERE member_id IN {members:Array(String)}) AS misplaced"""


def aggregate_current(ch: ClickHouse, cohort: str) -> bool:
    stored = stored_zones(ch, cohort)
    if not stored:
        return True  # no member: nothing the aggregate could get wrong
    members = sorted(stored)
    r = ch.query(AGGREGATE_CHECK_SQL, {"members": members, "zones": [stored[m] for m in members]})[0]
    return r["misplaced"] == 0 and r["raw_events"] == r["seen_events"]


def repair_aggregate(ch: ClickHouse, cohort: str) -> None:
    """Rewrite the cohort's `member_day_events` rows from the raw events (with the current zones).

    The seen keys go first and come back last, so a request checking in between sees fewer keys than
    `events` holds and is answered from the raw events; rows a concurrent insert adds meanwhile are
    added again by the rewrite, which changes nothing (every state is a set)."""
    members = "(SELECT member_id FROM enrolments FINAL WHERE cohort = {cohort:String})"
    p = {"cohort": cohort}
    ch.command(f"ALTER TABLE aggregated_events DELETE WHERE member_id IN {members} SETTINGS mutations_sync = 1", p)
    ch.command(f"ALTER TABLE member_day_events DELETE WHERE member_id IN {members} SETTINGS mutations_sync = 1", p)
    ch.command(f"INSERT INTO member_day_events {MEMBER_DAY_EVENTS_SELECT} WHERE ev.member_id IN {members} "
               "GROUP BY member_id, timezone, day", p)
    ch.command(f"INSERT INTO aggregated_events SELECT member_id, event_id, {EVENT_FINGERPRINT} FROM events "
               f"WHERE member_id IN {members}", p)


def weekly(ch: ClickHouse, cohort: str, denominator: Denominator = "followup") -> list[WeekRates]:
    f = cohort_fold(ch, cohort)
    return [WeekRates(**r) for r in f.weekly(denominator, f.intervention_weeks)]


def daily(ch: ClickHouse, cohort: str, start: date | None = None, end: date | None = None,
          denominator: Denominator = "followup") -> list[DayRates]:
    return [DayRates(**r) for r in cohort_fold(ch, cohort).daily(denominator, start or date.min, end or date.max)]


def summary(ch: ClickHouse, cohort: str) -> CohortSummary:
    """The intervention stage per denominator: mean of the weekly rates and the pooled rate."""
    f = cohort_fold(ch, cohort)
    weeks = f.intervention_weeks
    return CohortSummary(intervention_weeks=weeks, stages=[
        intervention_summary([WeekRates(**r) for r in f.weekly(d, weeks)], weeks, d)
        for d in ("followup", "enrolled")])


def members(ch: ClickHouse, cohort: str) -> list[MemberSummary]:
    return [MemberSummary(**r) for r in cohort_fold(ch, cohort).member_summaries()]


def daytypes(ch: ClickHouse, cohort: str, stage_name: StageFilter = "all",
             denominator: Denominator = "followup") -> list[DayTypeRates]:
    f = cohort_fold(ch, cohort)
    return [DayTypeRates(**r) for r in f.daytypes(denominator, stage_name, f.intervention_weeks)]


class ReferenceFold:
    """The answers of `days.py` over its list of member-days, with `grid.Grid`'s method names."""

    def __init__(self, calendar: CohortCalendar, member_days: list[days.MemberDay]) -> None:
        self.calendar, self.days = calendar, member_days
        self.intervention_weeks = calendar.settings.latest.intervention_weeks

    def member_days(self) -> list[days.MemberDay]:
        return self.days

    def weekly(self, denominator: Denominator, intervention_weeks: int) -> list[dict]:
        return days.weekly(self.days, denominator, intervention_weeks)

    def daily(self, denominator: Denominator, start: date, end: date) -> list[dict]:
        return days.daily(self.days, denominator, start, end)

    def member_summaries(self) -> list[dict]:
        return days.member_summaries(self.calendar, self.days)

    def daytypes(self, denominator: Denominator, stage_name: StageFilter, intervention_weeks: int) -> list[dict]:
        return days.daytypes(self.days, denominator, stage_name, intervention_weeks)


sample_sd = grid.sample_sd_of_sums  # sample SD (ddof=1) of integers from their sums, as statistics.stdev


def cohorts(ch: ClickHouse) -> list[str]:
    return [r["cohort"] for r in ch.query("SELECT DISTINCT cohort FROM enrolments ORDER BY cohort")]


MEMBER_DAYS_SCHEMA = pa.schema([
    pa.field("cohort", pa.string()), pa.field("member_id", pa.string()), pa.field("day", pa.date32()),
    pa.field("day_number", pa.uint32()), pa.field("week", pa.uint32()), pa.field("logged_in", pa.uint8()),
    pa.field("participated", pa.uint8()), pa.field("completed", pa.uint8()), pa.field("actions", pa.uint64()),
    pa.field("working", pa.uint8()), pa.field("version", pa.uint64())])


def refresh_rollup(ch: ClickHouse, cohort: str, version: int) -> None:
    """Write the cohort's complete follow-up member-days (what the API counts) as generation `version`
    of the `member_days` rollup (Grafana reads `member_days_current`), then drop older generations."""
    if not aggregate_current(ch, cohort):
        repair_aggregate(ch, cohort)
    _, member_days = cohort_days(ch, cohort)
    rows = [d for d in member_days if d.complete and d.in_follow_up]
    ch.insert("member_days", {
        "cohort": [cohort] * len(rows), "member_id": [d.member_id for d in rows], "day": [d.day for d in rows],
        "day_number": [d.day_number for d in rows], "week": [(d.day_number - 1) // 7 + 1 for d in rows],
        "logged_in": [int(d.logged_in) for d in rows], "participated": [int(d.participated) for d in rows],
        "completed": [int(d.completed) for d in rows], "actions": [d.actions for d in rows],
        "working": [int(d.working) for d in rows], "version": [version] * len(rows)}, MEMBER_DAYS_SCHEMA)
    ch.command("DELETE FROM member_days WHERE cohort = {cohort:String} AND version < {version:UInt64}",
               {"cohort": cohort, "version": version})
