"""Responses of the metrics API (`services/metrics`, `GET /v1/cohorts/{cohort}/…`).

Rates are percentages (0–100) as unrounded floats: 100 × member-days with the property ÷ member-days
in follow-up (docs/metrics.md). The underlying counts are returned too, so any rate can be re-derived.
"""

from __future__ import annotations

from datetime import date

from pydantic import Field

from .common import StrictModel
from .engagement import Stage


class Rates(StrictModel):
    member_days: int = Field(description="Member-days in follow-up (the denominator)")
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
    follow_up_days: int = Field(description="Follow-up days so far (up to the latest clock tick, withdrawal, cohort end)")
    window_days: int = Field(description="Follow-up days counted for `active`: the first 28 (fewer so far)")
    logged_in_days: int
    participated_days: int
    completed_days: int
    login_rate: float = Field(description="Over the first 28 follow-up days (percent)")
    participation_rate: float
    completion_rate: float
    active: bool = Field(description="login rate over the first 28 days ≥ the cohort's active_login_threshold")


class DayTypeRates(Rates):
    day_type: str = Field(description="'working' or 'non-working' (weekends and cohort holidays)")
    actions: int = Field(description="Check-ins and meditation plays on these member-days")
    actions_mean: float = Field(description="Mean actions per member-day")
    actions_sd: float | None = Field(
        description="SAMPLE standard deviation (ddof=1, as the paper reports) of actions per member-day; "
                    "null with fewer than 2 member-days")
