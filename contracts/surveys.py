"""Questionnaires: the `surveys` topic (schedule steps, responses, scores) and the response bodies.

Every step of an invitation's life is one event keyed by `member_id` on `surveys`:

    survey.scheduled → survey.invited → survey.reminded (×0–2) → survey.responded + survey.scored
                                                              ↘ survey.expired
    (any open step) → survey.cancelled  (member withdrawn)

`invitation_id` and every `event_id` of a schedule step are deterministic (uuid5 of member,
enrolment, instrument, timepoint and step), so a replayed or re-processed step is recognisably
the same event. `survey.responded` carries the answers, including the experience survey's free
text, encrypted with the member's data key (docs/erasure.md): it stays on `surveys` and in the survey
service's authorised staff API. Analytics sinks
(ClickHouse) consume `survey.scored` ONLY — it has numbers, never text.
"""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Annotated, Literal, Union
from uuid import UUID

from pydantic import Field, StringConstraints, create_model, field_validator, model_validator

from .common import CohortId, EventId, MemberId, StrictModel, Timestamp
from .members import TimeZoneName

Instrument = Literal["qlq_c30", "experience"]
Timepoint = Literal["T0", "T1", "T2", "post"]
"""T0 enrolment, T1 day 14, T2 day 28 (QLQ-C30); `post` is the experience survey after the intervention."""

SCALES: tuple[str, ...] = (
    "QL2", "PF2", "RF2", "EF", "CF", "SF", "FA", "NV", "PA", "DY", "SL", "AP", "CO", "DI", "FI",
)
"""The 15 QLQ-C30 (v3.0) scales, in the scoring manual's order (see services/survey/scoring.py)."""

ITEMS: tuple[str, ...] = tuple(str(i) for i in range(1, 31))
OPEN_ANSWER_MAX_CHARS = 2000


class _SurveyStep(StrictModel):
    event_id: EventId
    invitation_id: UUID = Field(description="Deterministic id of one questionnaire invitation")
    member_id: MemberId
    cohort: CohortId
    instrument: Instrument
    timepoint: Timepoint
    occurred_at: Timestamp = Field(description="Simulated time (clock.tick) of the step, or of the response")


class SurveyScheduled(_SurveyStep):
    type: Literal["survey.scheduled"] = "survey.scheduled"
    timezone: TimeZoneName
    enrolled_on: date
    follow_up_day: int = Field(ge=1, description="Follow-up day on which the questionnaire is due")
    due_at: Timestamp = Field(description="Invitation time: the service's invite time on that local day")
    reminders_at: tuple[Timestamp, ...] = Field(max_length=5, description="When reminders go out if unanswered")
    expires_at: Timestamp


class SurveyInvited(_SurveyStep):
    type: Literal["survey.invited"] = "survey.invited"
    expires_at: Timestamp


class SurveyReminded(_SurveyStep):
    type: Literal["survey.reminded"] = "survey.reminded"
    reminder: int = Field(ge=1, le=5, description="1 = first reminder")


class SurveyExpired(_SurveyStep):
    type: Literal["survey.expired"] = "survey.expired"


class SurveyCancelled(_SurveyStep):
    type: Literal["survey.cancelled"] = "survey.cancelled"
    reason: Literal["withdrawn", "re_enrolled"] = Field(
        default="withdrawn", description="Member withdrawn, or enrolled again with another enrolment day")


# --- response bodies -------------------------------------------------------------------------

_Item4 = Annotated[int | None, Field(ge=1, le=4, strict=True)]
_Item7 = Annotated[int | None, Field(ge=1, le=7, strict=True)]

QlqC30Items = create_model(  # type: ignore[call-overload]
    "QlqC30Items",
    __base__=StrictModel,
    __doc__="QLQ-C30 answers by item number '1'..'30': items 1-28 are 1-4, items 29-30 are 1-7. "
            "Leave an item out (or null) when unanswered.",
    **{
        f"item_{i}": ((_Item7 if i >= 29 else _Item4), Field(default=None, alias=str(i)))
        for i in range(1, 31)
    },
)


def item_answers(items: StrictModel) -> dict[int, int | None]:
    """{1: answer or None, …, 30: …} from a validated QlqC30Items."""
    return {i: getattr(items, f"item_{i}") for i in range(1, 31)}


OpenAnswer = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=OPEN_ANSWER_MAX_CHARS)]


class ExperienceAnswers(StrictModel):
    """The three open questions after the intervention; each may be left out (null)."""

    q1: OpenAnswer | None = Field(default=None, description="What helped you most in the community?")
    q2: OpenAnswer | None = Field(default=None, description="What was difficult or should change?")
    q3: OpenAnswer | None = Field(default=None, description="Would you recommend it to other patients, and why?")


# An OpenAnswer sealed with the member's data key: 2,000 characters of up to 4 UTF-8 bytes, plus nonce
# and tag, in base64, behind the `enc:v1:<key id>:` prefix (services/common/member_keys.py) fits 10,744.
SEALED_ANSWER_MAX_CHARS = 12_000
SealedAnswer = Annotated[str, StringConstraints(min_length=1, max_length=SEALED_ANSWER_MAX_CHARS)]


class RecordedExperienceAnswers(StrictModel):
    """The experience answers as `survey.responded` carries them: each encrypted with the member's data
    key (`enc:v1:…`), so erasing the member makes them unreadable on the log (docs/erasure.md). Plain text
    only for a member enrolled before data keys existed, or `[erased]` in an erased member's state."""

    q1: SealedAnswer | None = None
    q2: SealedAnswer | None = None
    q3: SealedAnswer | None = None


EXPERIENCE_QUESTIONS: dict[str, str] = {
    name: field.description or "" for name, field in ExperienceAnswers.model_fields.items()
}


class QlqC30Response(StrictModel):
    """Body of `POST /v1/surveys/{invitation_id}/responses` for a QLQ-C30 invitation."""

    items: QlqC30Items  # type: ignore[valid-type]

    @field_validator("items")
    @classmethod
    def _something_answered(cls, items: StrictModel) -> StrictModel:
        if all(value is None for value in item_answers(items).values()):
            raise ValueError("answer at least one item")
        return items


class ExperienceResponse(StrictModel):
    """Body of `POST /v1/surveys/{invitation_id}/responses` for the experience survey."""

    answers: ExperienceAnswers

    @field_validator("answers")
    @classmethod
    def _something_answered(cls, answers: ExperienceAnswers) -> ExperienceAnswers:
        if answers.q1 is None and answers.q2 is None and answers.q3 is None:
            raise ValueError("answer at least one question")
        return answers


class SurveyResponded(_SurveyStep):
    type: Literal["survey.responded"] = "survey.responded"
    response_id: UUID
    items: dict[str, int] | None = Field(default=None, description="QLQ-C30 answers given, by item number")
    answers: RecordedExperienceAnswers | None = Field(
        default=None, description="Experience survey free text, encrypted with the member's data key: "
                                  "staff API only, never to analytics")


class ScaleScores(StrictModel):
    """Each QLQ-C30 scale on 0-100; null when fewer than half of its items were answered."""

    QL2: float | None
    PF2: float | None
    RF2: float | None
    EF: float | None
    CF: float | None
    SF: float | None
    FA: float | None
    NV: float | None
    PA: float | None
    DY: float | None
    SL: float | None
    AP: float | None
    CO: float | None
    DI: float | None
    FI: float | None


class SurveyScored(_SurveyStep):
    """One scored QLQ-C30 questionnaire: what the metrics sink writes to ClickHouse."""

    type: Literal["survey.scored"] = "survey.scored"
    response_id: UUID
    scores: ScaleScores
    summary: float | None = Field(description="QLQ-C30 summary score (Giesinger 2016); null when a scale is missing")
    items_answered: int = Field(ge=0, le=30)


SurveyEvent = Annotated[
    Union[SurveyScheduled, SurveyInvited, SurveyReminded, SurveyExpired, SurveyCancelled, SurveyResponded,
          SurveyScored],
    Field(discriminator="type"),
]


# --- API answers -----------------------------------------------------------------------------

class PendingSurvey(StrictModel):
    invitation_id: UUID
    instrument: Instrument
    timepoint: Timepoint
    invited_at: datetime
    expires_at: datetime
    reminders_sent: int
    questions: dict[str, str] = Field(description="Item ids and their text or answer range")


class ResponseResult(StrictModel):
    invitation_id: UUID
    response_id: UUID
    instrument: Instrument
    timepoint: Timepoint
    responded_at: datetime
    scores: ScaleScores | None = None
    summary: float | None = None


class ExperienceRow(StrictModel):
    member_id: MemberId
    invitation_id: UUID
    responded_at: datetime
    q1: str | None
    q2: str | None
    q3: str | None


class SurveyPlan(StrictModel):
    """When questionnaires are due (service settings; one plan per deployment for now)."""

    qlq_c30_days: dict[Literal["T0", "T1", "T2"], Annotated[int, Field(ge=1, le=400)]] = Field(
        default={"T0": 1, "T1": 14, "T2": 28}, min_length=1)
    experience_day: int = Field(default=29, ge=1, le=400)
    invite_time: time = Field(default=time(9, 0), description="Local time of the member's day for invitations")
    reminder_after_days: tuple[Annotated[int, Field(ge=1, le=59)], ...] = Field(default=(1, 3), max_length=5)
    expire_after_days: int = Field(default=7, ge=1, le=60)

    @model_validator(mode="after")
    def _reminders_before_expiry(self) -> "SurveyPlan":
        days = self.reminder_after_days
        if list(days) != sorted(set(days)):
            raise ValueError("reminder_after_days must be strictly increasing")
        if days and days[-1] >= self.expire_after_days:
            raise ValueError("every reminder must come before the expiry (reminder_after_days < expire_after_days)")
        return self
