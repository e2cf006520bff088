"""The published numbers, computed INSIDE ClickHouse from the de-duplicated raw events.

One SQL building block, `member_days`, lists every follow-up member-day of a cohort with what the
member did that day; the weekly / daily / member / day-type figures aggregate it.

* De-duplication: raw events are grouped by (`member_id`, `event_id`) and each takes its FIRST
  delivery in log order (`argMin(…, kafka_offset)`), whatever a later delivery carries (a duplicate,
  a replayed batch or a conflicting re-use of the id never changes a number, merged or not: the
  table keeps the same row on merge); members/cohorts are read `FINAL`.
* Local days: ClickHouse's `toDate(ts, tz)` needs a constant zone, so the query carries one
  `multiIf` branch per zone present in the cohort (each branch a constant zone).
* Follow-up days (contracts.engagement.in_follow_up): enrolment day … min(today, withdrawn_on − 1,
  cohort ends_on), where "today" is the latest `clock.tick` seen, as a local day in the member's zone.
* Day rules: logged in = at least one event; participated = hasAny(tasks done, cohort tasks);
  completed = hasAll; working day = Mon–Fri and not a cohort holiday; actions = check-ins + plays.
  The per-event task/actions columns were computed by `contracts.engagement` at sink time.
* Speed: what members did per local day is read from `member_day_events`, aggregate states (sets of
  tasks, distinct action event ids) ClickHouse maintains at insert time, whenever a per-request check
  proves it describes exactly the cohort's raw events (`aggregate_current`); otherwise from the raw
  events themselves. Both give identical numbers (tests/test_aggregate.py, bench/metrics_query.py).
"""

from __future__ import annotations

import math
import re
import statistics
from dataclasses import dataclass
from datetime import date
from fractions import Fraction
from typing import Any

from contracts.engagement import activity, stage
from contracts.members import CohortSettings
from contracts.metrics_api import (
    CohortSummary, DayRates, DayTypeRates, Denominator, MemberSummary, StageFilter, WeekRates, intervention_summary,
)

from .clickhouse import ClickHouse
from .schema import EVENT_FINGERPRINT, MEMBER_DAY_EVENTS_SELECT

_ZONE = re.compile(r"^[A-Za-z0-9_+\-/]{1,64}$")
FAR_FUTURE = date(2149, 6, 6)  # the largest ClickHouse Date


def cohort_settings(ch: ClickHouse, cohort: str) -> CohortSettings:
    rows = ch.query("SELECT settings FROM cohorts FINAL WHERE cohort = {c:String}", {"c": cohort})
    return CohortSettings.model_validate_json(rows[0]["settings"]) if rows else CohortSettings()


def cohort_exists(ch: ClickHouse, cohort: str) -> bool:
    rows = ch.query("SELECT (SELECT count() FROM enrolments WHERE cohort = {c:String}) + "
                    "(SELECT count() FROM cohorts WHERE cohort = {c:String}) AS n", {"c": cohort})
    return rows[0]["n"] > 0


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
    """What a cohort query needs besides SQL: settings and zones, read from ClickHouse first."""

    cohort: str
    settings: CohortSettings
    zones: list[str]
    aggregate_current: bool = False

    def params(self) -> dict[str, Any]:
        s = self.settings
        return {"cohort": self.cohort, "tasks": list(s.tasks), "holidays": [d.isoformat() for d in s.holidays],
                "working_days": [d.isoformat() for d in s.working_days],
                "ends_on": (s.ends_on or FAR_FUTURE).isoformat()}


def scope(ch: ClickHouse, cohort: str) -> Scope:
    zones = [r["timezone"] for r in ch.query(
        "SELECT DISTINCT timezone FROM enrolments FINAL WHERE cohort = {cohort:String} ORDER BY timezone",
        {"cohort": cohort})]
    return Scope(cohort, cohort_settings(ch, cohort), zones, aggregate_current(ch, cohort))


def member_days_sql(sc: Scope) -> str:
    """One row per enrolled member-day from the enrolment day to the earlier of the cohort's end and
    the member's today (docs/metrics.md): member_id, day, day_number, complete (the day is over in the
    member's zone: before the latest tick's local date), in_follow_up (before the withdrawal),
    logged_in, participated, completed, actions (all 0 outside follow-up: days after a withdrawal
    count as not logged in), working."""
    today = _local_date("now_ts", sc.zones)
    engagement = AGGREGATE_DAYS_SQL if sc.aggregate_current else raw_days_sql(sc)
    return f"""
    WITH (SELECT max(now) FROM clock_ticks) AS now_ts
    SELECT md.member_id AS member_id, md.day AS day, md.day_number AS day_number,
           md.day < md.today AS complete, md.day < md.stop AS in_follow_up,
           in_follow_up AND ed.member_id != '' AS logged_in,
           in_follow_up AND hasAny(ed.tasks, {{tasks:Array(String)}}) AS participated,
           in_follow_up AND hasAll(ed.tasks, {{tasks:Array(String)}}) AS completed,
           if(in_follow_up, ed.actions, 0) AS actions,
           (toDayOfWeek(md.day) <= 5 AND NOT has({{holidays:Array(Date)}}, md.day))
               OR has({{working_days:Array(Date)}}, md.day) AS working
    FROM (
        SELECT member_id, today, stop,
               arrayJoin(range(toUInt32(greatest(0, dateDiff('day', enrolled_on, last_day) + 1)))) AS i,
               enrolled_on + i AS day, toUInt32(i + 1) AS day_number
        FROM (
            SELECT en.member_id AS member_id, en.enrolled_on AS enrolled_on, {today} AS today,
                   least(today, toDate({{ends_on:String}})) AS last_day,
                   if(wd.member_id = '', toDate('{FAR_FUTURE.isoformat()}'), wd.withdrawn_on) AS stop
            FROM (SELECT member_id, enrolled_on, timezone FROM enrolments FINAL WHERE cohort = {{cohort:String}}) AS en
            LEFT JOIN (SELECT member_id, withdrawn_on FROM withdrawals FINAL WHERE cohort = {{cohort:String}}) AS wd
                ON en.member_id = wd.member_id
        )
    ) AS md
    LEFT JOIN ({engagement}
    ) AS ed ON md.member_id = ed.member_id AND md.day = ed.day
    """


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


# The same per member-day engagement from `member_day_events` (schema migration 4), which ClickHouse
# maintains at insert time: valid only when `aggregate_current` holds for the cohort (see `scope`).
AGGREGATE_DAYS_SQL = """
        SELECT member_id, day, groupUniqArrayArrayMerge(tasks) AS tasks, toUInt64(uniqExactIfMerge(actions)) AS actions
        FROM member_day_events
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
# a cohort with a conflict stays on the raw events.
AGGREGATE_CHECK_SQL = """
    SELECT (SELECT count() FROM events FINAL
            WHERE member_id IN (SELECT member_id FROM enrolments FINAL WHERE cohort = {cohort:String})) AS raw_events,
           (SELECT count() FROM aggregated_events FINAL
            WHERE member_id IN (SELECT member_id FROM enrolments FINAL WHERE cohort = {cohort:String})) AS seen_events,
           (SELECT count() FROM member_day_events
            WHERE member_id IN (SELECT member_id FROM enrolments FINAL WHERE cohort = {cohort:String})
              AND (member_id, timezone) NOT IN (SELECT member_id, timezone FROM enrolments FINAL
                                                WHERE cohort = {cohort:String})) AS misplaced
"""


def aggregate_current(ch: ClickHouse, cohort: str) -> bool:
    r = ch.query(AGGREGATE_CHECK_SQL, {"cohort": cohort})[0]
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


# Rates count complete member-days only; a row is `partial` while any of its member-days is not over.
_COUNTS = """countIf(complete) AS member_days, toUInt64(sumIf(logged_in, complete)) AS logged_in_days,
    toUInt64(sumIf(participated, complete)) AS participated_days, toUInt64(sumIf(completed, complete)) AS completed_days,
    if(member_days = 0, 0., 100 * logged_in_days / member_days) AS login_rate,
    if(member_days = 0, 0., 100 * participated_days / member_days) AS participation_rate,
    if(member_days = 0, 0., 100 * completed_days / member_days) AS completion_rate,
    toBool(countIf(NOT complete) > 0) AS partial"""

# The member-days a denominator counts: `followup` those in follow-up, `enrolled` every enrolled day.
_DENOMINATOR_FILTER = {"followup": "in_follow_up", "enrolled": "1"}


def weekly(ch: ClickHouse, cohort: str, denominator: Denominator = "followup") -> list[WeekRates]:
    sc = scope(ch, cohort)
    rows = ch.query(f"SELECT intDiv(day_number - 1, 7) + 1 AS week, {_COUNTS} FROM ({member_days_sql(sc)}) "
                    f"WHERE {_DENOMINATOR_FILTER[denominator]} GROUP BY week ORDER BY week", sc.params())
    return [WeekRates(**r, denominator=denominator, stage=stage(r["week"], sc.settings.intervention_weeks))
            for r in rows]


def daily(ch: ClickHouse, cohort: str, start: date | None = None, end: date | None = None,
          denominator: Denominator = "followup") -> list[DayRates]:
    sc = scope(ch, cohort)
    params = sc.params() | {"start": (start or date(1970, 1, 1)).isoformat(),
                            "end": (end or FAR_FUTURE).isoformat()}
    rows = ch.query(f"SELECT day, {_COUNTS} FROM ({member_days_sql(sc)}) "
                    f"WHERE {_DENOMINATOR_FILTER[denominator]} AND day BETWEEN toDate({{start:String}}) AND "
                    "toDate({end:String}) GROUP BY day ORDER BY day", params)
    return [DayRates(**r, denominator=denominator) for r in rows]


def summary(ch: ClickHouse, cohort: str) -> CohortSummary:
    """The intervention stage per denominator: mean of the weekly rates and the pooled rate."""
    settings = cohort_settings(ch, cohort)
    return CohortSummary(intervention_weeks=settings.intervention_weeks, stages=[
        intervention_summary([w for w in weekly(ch, cohort, d) if w.stage == "intervention"],
                             settings.intervention_weeks, d)
        for d in ("followup", "enrolled")])


WINDOW_DAYS = 28  # the activity window: the first 28 follow-up days


def members(ch: ClickHouse, cohort: str) -> list[MemberSummary]:
    sc = scope(ch, cohort)
    window = f"complete AND day_number <= {WINDOW_DAYS}"
    counts = {r["member_id"]: r for r in ch.query(
        f"""SELECT member_id, countIf(complete) AS follow_up_days, countIf({window}) AS window_days,
                   toUInt64(sumIf(logged_in, {window})) AS logged_in_days,
                   toUInt64(sumIf(participated, {window})) AS participated_days,
                   toUInt64(sumIf(completed, {window})) AS completed_days,
                   toBool(countIf(NOT complete) > 0) AS ongoing
            FROM ({member_days_sql(sc)}) WHERE in_follow_up GROUP BY member_id""", sc.params())}
    people = ch.query(
        """SELECT en.member_id AS member_id, en.timezone AS timezone, en.enrolled_on AS enrolled_on,
                  if(wd.member_id = '', NULL, wd.withdrawn_on) AS withdrawn_on
           FROM (SELECT * FROM enrolments FINAL WHERE cohort = {cohort:String}) AS en
           LEFT JOIN (SELECT * FROM withdrawals FINAL WHERE cohort = {cohort:String}) AS wd
             ON en.member_id = wd.member_id ORDER BY member_id""", {"cohort": cohort})
    out = []
    for p in people:
        c = counts.get(p["member_id"], {})
        n, logged = c.get("window_days", 0), c.get("logged_in_days", 0)
        part, comp = c.get("participated_days", 0), c.get("completed_days", 0)
        # Follow-up goes on while a day of it is still under way (today) or not begun (enrolled ahead).
        ongoing = c.get("ongoing", False) or p["member_id"] not in counts
        state = activity(logged, n, WINDOW_DAYS, ongoing, sc.settings.active_login_threshold)
        out.append(MemberSummary(
            member_id=p["member_id"], timezone=p["timezone"], enrolled_on=p["enrolled_on"],
            withdrawn_on=p["withdrawn_on"], follow_up_days=c.get("follow_up_days", 0), window_days=n,
            logged_in_days=logged, participated_days=part, completed_days=comp,
            login_rate=100 * logged / n if n else 0.0, participation_rate=100 * part / n if n else 0.0,
            completion_rate=100 * comp / n if n else 0.0,
            activity=state, active=None if state in ("pending", "insufficient") else state == "active"))
    return out


def sample_sd(n: int, total: int, total_sq: int) -> float | None:
    """Sample SD (ddof=1) from integer sums, exact until the final square root."""
    if n < 2:
        return None
    return math.sqrt(Fraction(n * total_sq - total * total, n * (n - 1)))


_STAGE_FILTER = {"all": "1", "intervention": "day_number <= {weeks:UInt32} * 7",
                 "open-ended": "day_number > {weeks:UInt32} * 7"}


def daytypes(ch: ClickHouse, cohort: str, stage_name: StageFilter = "all",
             denominator: Denominator = "followup") -> list[DayTypeRates]:
    """Working vs non-working days: rates, and actions per member-day of the type two ways — over all
    member-days (mean, sample SD) and per member (each member's mean, then mean and sample SD across
    members, the paper's "per individual"). Actions count complete follow-up days only."""
    sc = scope(ch, cohort)
    params = sc.params() | {"weeks": sc.settings.intervention_weeks}
    where = f"{_DENOMINATOR_FILTER[denominator]} AND {_STAGE_FILTER[stage_name]}"
    source = f"(SELECT *, if(working, 'working', 'non-working') AS day_type FROM ({member_days_sql(sc)}) WHERE {where})"
    rows = ch.query(f"""SELECT day_type, {_COUNTS},
                               toUInt64(sumIf(actions, complete AND in_follow_up)) AS actions_total,
                               toUInt64(sumIf(actions * actions, complete AND in_follow_up)) AS actions_sq,
                               countIf(complete AND in_follow_up) AS action_days
                        FROM {source} GROUP BY day_type ORDER BY day_type DESC""", params)
    per_member: dict[str, list[Fraction]] = {}
    for r in ch.query(f"""SELECT day_type, member_id, toUInt64(sum(actions)) AS total, count() AS days
                          FROM {source} WHERE complete AND in_follow_up GROUP BY day_type, member_id""", params):
        per_member.setdefault(r["day_type"], []).append(Fraction(r["total"], r["days"]))
    out = []
    for r in rows:
        sq, total, days = r.pop("actions_sq"), r.pop("actions_total"), r.pop("action_days")
        means = per_member.get(r["day_type"], [])
        out.append(DayTypeRates(
            **r, denominator=denominator, stage=stage_name, actions=total, action_days=days,
            actions_mean=total / days if days else 0.0, actions_sd=sample_sd(days, total, sq),
            members=len(means), actions_per_member_mean=float(sum(means) / len(means)) if means else 0.0,
            actions_per_member_sd=fraction_sd(means)))
    return out


def fraction_sd(values: list[Fraction]) -> float | None:
    """Sample SD (ddof=1) of exact values, exact until the final square root."""
    return float(statistics.stdev(values)) if len(values) >= 2 else None  # exact, correctly rounded


def cohorts(ch: ClickHouse) -> list[str]:
    return [r["cohort"] for r in ch.query("SELECT DISTINCT cohort FROM enrolments ORDER BY cohort")]


def refresh_rollup(ch: ClickHouse, cohort: str, version: int) -> None:
    """Write the cohort's member-days (the same SQL the API answers from) as generation `version`
    of the `member_days` rollup (Grafana reads `member_days_current`), then drop older generations."""
    if not aggregate_current(ch, cohort):
        repair_aggregate(ch, cohort)
    sc = scope(ch, cohort)
    ch.command(f"""INSERT INTO member_days (cohort, member_id, day, day_number, week, logged_in, participated,
                                            completed, actions, working, version)
                   SELECT {{cohort:String}}, member_id, day, day_number, intDiv(day_number - 1, 7) + 1,
                          logged_in, participated, completed, actions, working, {{version:UInt64}}
                   FROM ({member_days_sql(sc)})""", sc.params() | {"version": version})
    ch.command("DELETE FROM member_days WHERE cohort = {cohort:String} AND version < {version:UInt64}",
               {"cohort": cohort, "version": version})
