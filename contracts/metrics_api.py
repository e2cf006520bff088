"""Responses of the metrics API (`services/metrics`, `GET /v1/cohorts/{cohort}/…`).

Rates are percentages (0–100) as unrounded floats: 100 × complete member-days with the property ÷
complete member-days counted by the row's denominator (docs/metrics.md): `followup` (member-days in
follow-up, the default) or `enrolled` (every enrolled member's days up to the cohort's end, days after
a withdrawal counting as not logged in). The underlying counts are returned too, so any rate can be
re-derived; a row whose member-days are not all over yet says `partial: true`.
"""

from __future__ import annotations

from datetime import date
from fractions import Fraction
from typing import Literal

from pydantic import Field

from .common import StrictModel
from .engagement import Activity, Stage, half_up

Denominator = Literal["followup", "enrolled"]
StageFilter = Literal["all", "intervention", "open-ended"]


class Rates(StrictModel):
    denominator: Denominator = Field(description="Which member-days the rates divide by (docs/metrics.md)")
    partial: bool = Field(description="Some member-day of this row is not over yet (not counted until it is)")
    member_days: int = Field(description="Complete member-days counted (the denominator)")
    logged_in_days: int
    participated_days: int
    completed_days: int
    login_rate: float = Field(description="100 × logged_in_days / member_days (0 when member_days is 0)")
    participation_rate: float
    completion_rate: float


class WeekRates(Rates):
    week: int = Field(ge=1, description="Study week: follow-up days 7(w−1)+1 … 7w of each member")
    stage: Stage


class DayRates(Rates):
    day: date = Field(description="Local calendar day (each member's own time zone)")


class MemberSummary(StrictModel):
    member_id: str
    timezone: str
    enrolled_on: date
    withdrawn_on: date | None
    follow_up_days: int = Field(
        description="Complete follow-up days so far (up to the latest clock tick, withdrawal, cohort end)"
    )
    window_days: int = Field(description="Complete follow-up days counted for activity: the first 28 (fewer so far)")
    logged_in_days: int
    participated_days: int
    completed_days: int
    login_rate: float = Field(description="Over the complete days of the first 28 follow-up days (percent)")
    participation_rate: float
    completion_rate: float
    activity: Activity = Field(
        description="active / inactive: login rate over the first 28 follow-up days ≥ / < the cohort's "
                    "active_login_threshold; pending: fewer than 28 complete follow-up days so far; "
                    "insufficient: follow-up ended before 28 days")
    active: bool | None = Field(description="activity == 'active'; null unless the 28-day window is complete")


class DayTypeRates(Rates):
    day_type: str = Field(description="'working' or 'non-working' (weekends and cohort holidays, "
                                      "except the calendar's make-up working days)")
    stage: StageFilter = Field(description="Which study stage's days are counted")
    actions: int = Field(description="Check-ins and meditation plays on the complete follow-up days of this type")
    action_days: int = Field(description="Complete follow-up member-days of this type (actions' denominator)")
    actions_mean: float = Field(description="Mean actions per member-day")
    actions_sd: float | None = Field(
        description="SAMPLE standard deviation (ddof=1) of actions per member-day; null with fewer than 2 member-days")
    members: int = Field(description="Members with at least one complete follow-up day of this type")
    actions_per_member_mean: float = Field(
        description="Per individual (the paper's figure): each member's mean actions per day of this type, "
                    "then the mean across members")
    actions_per_member_sd: float | None = Field(
        description="Sample SD (ddof=1) across members of each member's mean; null with fewer than 2 members")


class StageSummary(StrictModel):
    denominator: Denominator
    weeks: int = Field(description="Intervention weeks with at least one complete member-day")
    partial: bool = Field(description="Some member-day of the intervention stage is not over yet")
    member_days: int
    logged_in_days: int
    participated_days: int
    completed_days: int
    mean_login_rate: float = Field(description="Mean of the weekly login rates (unrounded), half-up to 2 decimals")
    mean_participation_rate: float
    mean_completion_rate: float
    pooled_login_rate: float = Field(
        description="100 × logged_in_days / member_days over the stage, half-up to 2 decimals"
    )
    pooled_participation_rate: float
    pooled_completion_rate: float


class CohortSummary(StrictModel):
    intervention_weeks: int
    stages: list[StageSummary] = Field(description="The intervention stage, one entry per denominator")


def intervention_summary(weeks: list[WeekRates], intervention_weeks: int, denominator: Denominator) -> StageSummary:
    """The paper's "4-week average" (mean of the weekly rates, exact then half-up rounded) and beside
    it the pooled rate, from the weekly rows of weeks 1 … intervention_weeks (weeks without a
    complete member-day are left out of the mean)."""
    counted = [w for w in weeks if w.week <= intervention_weeks and w.member_days]
    totals = {k: sum(getattr(w, k) for w in counted)
              for k in ("member_days", "logged_in_days", "participated_days", "completed_days")}
    out: dict = {}
    for name, field in (("login", "logged_in_days"), ("participation", "participated_days"),
                        ("completion", "completed_days")):
        rates = [Fraction(100 * getattr(w, field), w.member_days) for w in counted]
        out[f"mean_{name}_rate"] = float(half_up(sum(rates) / len(rates))) if rates else 0.0
        out[f"pooled_{name}_rate"] = (float(half_up(Fraction(100 * totals[field], totals["member_days"])))
                                      if totals["member_days"] else 0.0)
    return StageSummary(denominator=denominator, weeks=len(counted),
                        partial=any(w.partial for w in weeks if w.week <= intervention_weeks), **totals, **out)


class TimepointCompletion(StrictModel):
    timepoint: Literal["T0", "T1", "T2"] = Field(description="QLQ-C30 timepoint (T0 enrolment, T1 day 14, T2 day 28)")
    invited: int = Field(description="Members invited to this timepoint's questionnaire so far")
    completed: int = Field(description="Invited members with a scored response for this timepoint")
    completion_rate: float | None = Field(description="100 × completed / invited (percent); null when none invited")


class NurseWorkload(StrictModel):
    open_alerts: int = Field(description="Alerts not resolved yet (open or acknowledged)")
    unacknowledged: int = Field(description="Alerts still open: raised, not acknowledged, not resolved")
    acknowledged: int = Field(description="Alerts ever acknowledged (the sample of the times below)")
    ack_median_minutes: float | None = Field(
        description="Median minutes from raised to first acknowledgement (study clock); null when none acknowledged")
    ack_p90_minutes: float | None = Field(
        description="90th percentile of the same minutes (linear interpolation between closest ranks)")


class CohortOverview(StrictModel):
    """One cohort's headline figures (aggregates only: no member ids)."""

    cohort: str
    members: int = Field(description="Members ever enrolled")
    withdrawn: int = Field(description="Members whose withdrawal has taken effect by the latest clock tick")
    attrition_rate: float | None = Field(description="100 × withdrawn / members (percent); null with no members")
    follow_up_week: int | None = Field(
        description="Study week of the most advanced member's latest complete follow-up day; null before any")
    intervention_weeks: int
    intervention: StageSummary = Field(description="Weeks 1 … intervention_weeks, followup denominator")
    active: int = Field(description="Members active over their first 28 follow-up days")
    inactive: int
    pending: int = Field(description="Members whose 28-day window is not complete yet")
    active_share: float | None = Field(
        description="100 × active / (active + inactive) (percent); null while no window is complete")
    questionnaires: list[TimepointCompletion]
    workload: NurseWorkload | None = Field(
        description="Nurse alerts of the cohort; null while the metrics store holds no alerts table")
