"""The cohort overview (docs/clinical.md): each cohort's headline figures in one answer, for the
dashboard's cohort list and its cohort page, and the nurse workload behind it.

Everything is an aggregate: member counts, rates, completion per timepoint, alert counts and times.
No member id leaves this module, so researchers may read it as they read the weekly rates.

* engagement figures (members, week, intervention means, activity) come from the same member-days as
  every published number (`queries.cohort_fold`: `grid.py`, equal to `days.py` by test);
* questionnaire completion per timepoint: members invited (`survey_invitations`, from
  `survey.invited`) and, of those, members with a scored response (`survey_scores`);
* nurse workload: the `alerts` table the sink fills from the notifier's `alerts` topic, when present.
"""

from __future__ import annotations

from datetime import datetime

from contracts.metrics_api import CohortOverview, NurseWorkload, TimepointCompletion, WeekRates, intervention_summary

from . import queries
from .clickhouse import ClickHouse

TIMEPOINTS = ("T0", "T1", "T2")

# Per QLQ-C30 timepoint: members invited, and how many of them have a scored response for it.
COMPLETION_SQL = """
    SELECT timepoint, uniqExact(member_id) AS invited,
           uniqExactIf(member_id, (member_id, timepoint) IN (
               SELECT member_id, timepoint FROM survey_scores FINAL
               WHERE cohort = {cohort:String} AND instrument = 'qlq_c30')) AS completed
    FROM survey_invitations FINAL
    WHERE cohort = {cohort:String} AND instrument = 'qlq_c30'
    GROUP BY timepoint"""


def visible_cohorts(ch: ClickHouse, admin: bool, allowed: frozenset[str]) -> list[str]:
    """Every cohort with an enrolment or settings, or only the allowed ones (non-admin tokens)."""
    rows = ch.query("SELECT cohort FROM (SELECT DISTINCT cohort FROM enrolments UNION DISTINCT "
                    "SELECT DISTINCT cohort FROM cohorts) ORDER BY cohort")
    return [r["cohort"] for r in rows if admin or r["cohort"] in allowed]


def completion(ch: ClickHouse, cohort: str) -> list[TimepointCompletion]:
    found = {r["timepoint"]: r for r in ch.query(COMPLETION_SQL, {"cohort": cohort})}
    out = []
    for tp in TIMEPOINTS:
        invited, done = (found[tp]["invited"], found[tp]["completed"]) if tp in found else (0, 0)
        out.append(TimepointCompletion(timepoint=tp, invited=invited, completed=done,
                                       completion_rate=100 * done / invited if invited else None))
    return out


def _table_exists(ch: ClickHouse, name: str) -> bool:
    return bool(ch.query("SELECT 1 AS x FROM system.tables WHERE database = currentDatabase() AND name = {n:String}",
                         {"n": name}))


# One row per alert of the cohort (the `alerts` view folds each alert's steps, first delivery wins).
WORKLOAD_SQL = """
    SELECT resolved_at IS NULL AS unresolved, acknowledged_at IS NULL AS unacknowledged,
           if(acknowledged_at IS NULL, NULL, dateDiff('millisecond', raised_at, acknowledged_at) / 60000) AS ack_minutes
    FROM alerts WHERE cohort = {cohort:String} AND raised_at IS NOT NULL"""


def quantile_inclusive(values: list[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (ClickHouse `quantileExactInclusive`, numpy's
    default), so the Grafana panel and the API give the same number."""
    if not values:
        return None
    ordered = sorted(values)
    h = (len(ordered) - 1) * q
    low = int(h)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (h - low) * (ordered[high] - ordered[low])


def workload(ch: ClickHouse, cohort: str) -> NurseWorkload | None:
    """Open alerts and time to acknowledge; None while the store has no `alerts` view."""
    if not _table_exists(ch, "alerts"):
        return None
    rows = ch.query(WORKLOAD_SQL, {"cohort": cohort})
    minutes = [r["ack_minutes"] for r in rows if r["ack_minutes"] is not None]
    return NurseWorkload(
        open_alerts=sum(1 for r in rows if r["unresolved"]),
        unacknowledged=sum(1 for r in rows if r["unresolved"] and r["unacknowledged"]),
        acknowledged=len(minutes), ack_median_minutes=quantile_inclusive(minutes, 0.5),
        ack_p90_minutes=quantile_inclusive(minutes, 0.9))


def _withdrawn(summaries: list[dict], now: datetime | None) -> int:
    """Withdrawals that have taken effect by the latest tick (a future-dated one counts from its date)."""
    if now is None:
        return 0
    today = now.date()
    return sum(1 for m in summaries if m["withdrawn_on"] is not None and m["withdrawn_on"] <= today)


def headline(ch: ClickHouse, cohort: str) -> CohortOverview:
    # the same fast fold the published answers use (docs/metrics.md, "How answers are computed")
    now = queries.latest_tick(ch)  # read once: the withdrawals below are judged by the fold's tick
    fold = queries.cohort_fold(ch, cohort, now)
    weeks = fold.intervention_weeks
    summaries = fold.member_summaries()
    states = [m["activity"] for m in summaries]
    active, inactive = states.count("active"), states.count("inactive")
    counted = [d.day_number for d in fold.member_days() if d.complete and d.in_follow_up]
    withdrawn = _withdrawn(summaries, now)
    weekly = [WeekRates(**r) for r in fold.weekly("followup", weeks)]
    return CohortOverview(
        cohort=cohort, members=len(summaries), withdrawn=withdrawn,
        attrition_rate=100 * withdrawn / len(summaries) if summaries else None,
        follow_up_week=(max(counted) - 1) // 7 + 1 if counted else None, intervention_weeks=weeks,
        intervention=intervention_summary(weekly, weeks, "followup"),
        active=active, inactive=inactive, pending=states.count("pending"),
        active_share=100 * active / (active + inactive) if active + inactive else None,
        questionnaires=completion(ch, cohort), workload=workload(ch, cohort))
