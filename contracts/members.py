"""Server events on the `members` topic: cohort settings, enrolments and withdrawals."""

from __future__ import annotations

from datetime import date, time
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import AfterValidator, Field, model_validator

from .common import CohortId, EventId, MemberId, ShortName, StrictModel, Timestamp


def _known_zone(name: str) -> str:
    if name not in _ZONES:
        raise ValueError(f"unknown IANA time zone {name!r}")
    try:
        ZoneInfo(name)
    except ZoneInfoNotFoundError as exc:  # pragma: no cover - tzdata always ships the zones it lists
        raise ValueError(f"unknown IANA time zone {name!r}") from exc
    return name


_ZONES = frozenset(available_timezones())
TimeZoneName = Annotated[str, AfterValidator(_known_zone), Field(examples=["Asia/Shanghai"])]


class CohortSettings(StrictModel):
    """Per-cohort protocol settings; every field has the study's default."""

    tasks: tuple[ShortName, ...] = Field(default=("meal", "exercise", "meditation"), min_length=1, max_length=10)
    intervention_weeks: int = Field(default=4, ge=1, le=52)
    active_login_threshold: float = Field(default=0.70, gt=0, le=1)
    ends_on: date | None = Field(default=None, description="Last follow-up day of the cohort (inclusive)")
    holidays: tuple[date, ...] = Field(default=(), max_length=400, description="Non-working days besides weekends")
    reminder_times: tuple[time, ...] = Field(default=(time(8), time(12), time(19)), min_length=1, max_length=6)
    inactive_days_intervention: int = Field(default=2, ge=1, le=28)
    open_ended_min_login_rate_7d: float = Field(default=0.5, ge=0, le=1)
    nurses: tuple[MemberId, ...] = Field(default=(), max_length=50, description="Staff ids (token sub) of the cohort's nurses")
    lead_nurse: MemberId | None = None

    @model_validator(mode="after")
    def _lead_is_a_nurse(self) -> "CohortSettings":
        if self.lead_nurse is not None and self.lead_nurse not in self.nurses:
            raise ValueError("lead_nurse must be one of nurses")
        return self


class CohortConfigured(StrictModel):
    type: Literal["cohort.configured"] = "cohort.configured"
    event_id: EventId
    cohort: CohortId
    settings: CohortSettings
    occurred_at: Timestamp


class MemberEnrolled(StrictModel):
    type: Literal["member.enrolled"] = "member.enrolled"
    event_id: EventId
    member_id: MemberId
    cohort: CohortId
    timezone: TimeZoneName
    enrolled_on: date = Field(description="Follow-up day 1, in the member's time zone")
    occurred_at: Timestamp


class MemberWithdrawn(StrictModel):
    type: Literal["member.withdrawn"] = "member.withdrawn"
    event_id: EventId
    member_id: MemberId
    cohort: CohortId
    withdrawn_on: date = Field(description="First local day no longer in follow-up")
    reason: Literal["member_request", "clinical", "lost_to_follow_up", "other"] = "member_request"
    occurred_at: Timestamp


class EnrollmentRequest(StrictModel):
    """Body of `POST /v1/enrollments`."""

    member_id: MemberId
    cohort: CohortId
    timezone: TimeZoneName
    enrolled_on: date


class WithdrawalRequest(StrictModel):
    """Body of `POST /v1/withdrawals`."""

    member_id: MemberId
    cohort: CohortId
    withdrawn_on: date
    reason: Literal["member_request", "clinical", "lost_to_follow_up", "other"] = "member_request"
