"""Server events on the `members` topic: cohort settings, enrolments, withdrawals and zone changes.

Changes take effect from a date, never backwards (docs/metrics.md): a cohort configuration carries
`effective_on` for its date-effective settings (tasks, holidays, working_days, reminder_times), and a
zone change carries the first local day lived in the new zone. A second `member.enrolled` for a
withdrawn member is a re-enrolment: follow-up continues (day numbers count from the first enrolment).
"""

from __future__ import annotations

from datetime import date, time
from typing import Annotated, Any, Literal, Union
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import AfterValidator, Field, TypeAdapter, model_validator

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


def _threshold(default: float | None, name: str) -> Any:
    return Field(default=default, ge=0, le=100, description=f"{name} (0-100); null: no threshold alert on this scale")


class SymptomThresholds(StrictModel):
    """Per-scale thresholds for clinical importance of the QLQ-C30 (docs/symptom-alerts.md): a
    functioning scale alerts BELOW its value, a symptom scale ABOVE it. Defaults: Giesinger et al.,
    J Clin Epidemiol 2020;118:1-8 (no published threshold for global health status QL2)."""

    QL2: float | None = _threshold(None, "Global health status: alert below")
    PF2: float | None = _threshold(83, "Physical functioning: alert below")
    RF2: float | None = _threshold(58, "Role functioning: alert below")
    EF: float | None = _threshold(71, "Emotional functioning: alert below")
    CF: float | None = _threshold(75, "Cognitive functioning: alert below")
    SF: float | None = _threshold(58, "Social functioning: alert below")
    FA: float | None = _threshold(39, "Fatigue: alert above")
    NV: float | None = _threshold(8, "Nausea and vomiting: alert above")
    PA: float | None = _threshold(25, "Pain: alert above")
    DY: float | None = _threshold(17, "Dyspnoea: alert above")
    SL: float | None = _threshold(50, "Insomnia: alert above")
    AP: float | None = _threshold(50, "Appetite loss: alert above")
    CO: float | None = _threshold(50, "Constipation: alert above")
    DI: float | None = _threshold(17, "Diarrhoea: alert above")
    FI: float | None = _threshold(17, "Financial difficulties: alert above")


class CohortSettings(StrictModel):
    """Per-cohort protocol settings; every field has the study's default."""

    tasks: tuple[ShortName, ...] = Field(default=("meal", "exercise", "meditation"), min_length=1, max_length=10)
    intervention_weeks: int = Field(default=4, ge=1, le=52)
    active_login_threshold: float = Field(default=0.70, gt=0, le=1)
    ends_on: date | None = Field(default=None, description="Last follow-up day of the cohort (inclusive)")
    holidays: tuple[date, ...] = Field(default=(), max_length=400, description="Non-working days besides weekends")
    working_days: tuple[date, ...] = Field(
        default=(),
        max_length=400,
        description="Make-up working days (e.g. a worked Saturday) that would otherwise be non-working",
    )
    reminder_times: tuple[time, ...] = Field(default=(time(8), time(12), time(19)), min_length=1, max_length=6)
    inactive_days_intervention: int = Field(default=2, ge=1, le=28)
    open_ended_min_login_rate_7d: float = Field(default=0.5, ge=0, le=1)
    symptom_alerts: bool = Field(default=True, description="Raise symptom alerts from scored QLQ-C30 questionnaires")
    symptom_thresholds: SymptomThresholds = Field(default_factory=SymptomThresholds)
    symptom_worsening_points: float | None = Field(
        default=10, gt=0, le=100,
        description="Alert on a drop (functioning, QL2) or rise (symptom scale) of at least this many points "
        "since the member's previous timepoint; null disables the worsening rule")
    nurses: tuple[MemberId, ...] = Field(
        default=(), max_length=50, description="Staff ids (token sub) of the cohort's nurses"
    )
    lead_nurse: MemberId | None = None

    @model_validator(mode="after")
    def _lead_is_a_nurse(self) -> "CohortSettings":
        if self.lead_nurse is not None and self.lead_nurse not in self.nurses:
            raise ValueError("lead_nurse must be one of nurses")
        return self


# Only these settings take effect by date; every other setting uses its latest value.
DATE_EFFECTIVE_SETTINGS = ("tasks", "holidays", "working_days", "reminder_times")


class CohortConfigured(StrictModel):
    type: Literal["cohort.configured"] = "cohort.configured"
    event_id: EventId
    cohort: CohortId
    settings: CohortSettings
    effective_on: date | None = Field(
        default=None,
        description="First day judged by this configuration's date-effective settings (tasks, holidays, "
        "working_days, reminder_times); days before a cohort's first configuration use the first one. "
        "Null (records written before effective dates existed) means from the beginning.",
    )
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


class MemberTimezoneChanged(StrictModel):
    """A member moved: instants from 00:00 of `effective_on` (new zone) fall on days of the new zone;
    earlier instants keep the old zone's date, at most `effective_on` - 1."""

    type: Literal["member.timezone_changed"] = "member.timezone_changed"
    event_id: EventId
    member_id: MemberId
    cohort: CohortId
    timezone: TimeZoneName
    effective_on: date = Field(description="First local day in the new zone")
    occurred_at: Timestamp


MemberRecord = Annotated[
    Union[CohortConfigured, MemberEnrolled, MemberWithdrawn, MemberTimezoneChanged], Field(discriminator="type")
]
member_record_adapter: TypeAdapter[Any] = TypeAdapter(MemberRecord)
MEMBER_RECORD_TYPES = ("cohort.configured", "member.enrolled", "member.withdrawn", "member.timezone_changed")


def parse_member_record(
    raw: bytes | str,
) -> CohortConfigured | MemberEnrolled | MemberWithdrawn | MemberTimezoneChanged:
    """Validate one record of the `members` topic into its model (dispatch on `type`)."""
    return member_record_adapter.validate_json(raw)


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


class TimezoneChangeRequest(StrictModel):
    """Body of `PUT /v1/members/{member_id}/timezone`."""

    timezone: TimeZoneName
    effective_on: date = Field(description="First local day in the new zone; not before the member's current local day")
