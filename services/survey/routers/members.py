"""Member API: the member's open questionnaires and their answers."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import orjson
from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import JSONResponse
from pydantic import TypeAdapter, ValidationError

from contracts.surveys import (
    EXPERIENCE_QUESTIONS,
    ExperienceAnswers,
    ExperienceResponse,
    PendingSurvey,
    QlqC30Response,
    ResponseResult,
    ScaleScores,
    SurveyResponded,
    SurveyScored,
    item_answers,
)
from services.common.auth import Member
from services.common.kafka import BrokerUnavailable
from services.common.member_keys import UnreadableText
from services.common.web import validation_errors

from .. import answers as free_text
from .. import telemetry
from ..deps import Runtime
from ..schedule import step_event_id
from ..scoring import score
from ..state import Invitation

router = APIRouter(tags=["member surveys"])

# The body is parsed by hand (its model depends on the invitation's instrument), so its schema is
# declared for the OpenAPI document here; BODY_COMPONENTS goes into the document's components.
_BODY_SCHEMA = TypeAdapter(QlqC30Response | ExperienceResponse).json_schema(ref_template="#/components/schemas/{model}")
BODY_COMPONENTS = _BODY_SCHEMA.pop("$defs")

QLQ_QUESTIONS = {str(i): ("answer 1-7" if i >= 29 else "answer 1-4") for i in range(1, 31)}




def refuse(code: int, detail: Any) -> HTTPException:
    telemetry.REFUSED.labels(str(code)).inc()
    return HTTPException(code, detail=detail)


def pending_view(inv: Invitation) -> PendingSurvey:
    s = inv.scheduled
    return PendingSurvey(
        invitation_id=s.invitation_id, instrument=s.instrument, timepoint=s.timepoint, invited_at=inv.invited_at,
        expires_at=s.expires_at, reminders_sent=inv.reminders_sent,
        questions=QLQ_QUESTIONS if s.instrument == "qlq_c30" else EXPERIENCE_QUESTIONS,
    )


def result_view(inv: Invitation) -> ResponseResult:
    r, scored = inv.response, inv.scored
    return ResponseResult(
        invitation_id=inv.id,
        response_id=r.response_id,
        instrument=r.instrument,
        timepoint=r.timepoint,
        responded_at=r.occurred_at,
        scores=scored.scores if scored else None,
        summary=scored.summary if scored else None,
    )


@router.get("/v1/surveys/pending", response_model=list[PendingSurvey],
            summary="Questionnaires the member has been invited to and can still answer")
async def pending(principal: Member, runtime: Runtime) -> list[PendingSurvey]:
    if not runtime.rebuilt.is_set():
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail="survey state is being rebuilt; retry",
                            headers={"Retry-After": "2"})
    return [pending_view(inv) for inv in runtime.book.pending(principal.subject)]


async def read_json(request: Request, limit: int) -> Any:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise refuse(status.HTTP_413_CONTENT_TOO_LARGE, f"body larger than {limit} bytes")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise refuse(status.HTTP_413_CONTENT_TOO_LARGE, f"body larger than {limit} bytes")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise refuse(status.HTTP_400_BAD_REQUEST, f"malformed JSON: {exc}") from None


def parse_answers(instrument: str, data: Any) -> tuple[dict[str, int] | None, ExperienceAnswers | None]:
    """Validate the body for the invitation's instrument: (QLQ items given, experience answers)."""
    model = QlqC30Response if instrument == "qlq_c30" else ExperienceResponse
    try:
        body = model.model_validate(data)
    except ValidationError as exc:
        errors = [e | {"loc": ["body", *e["loc"]]} for e in validation_errors(exc.errors())]
        raise refuse(status.HTTP_422_UNPROCESSABLE_CONTENT, errors) from None
    if isinstance(body, QlqC30Response):
        return {str(i): a for i, a in item_answers(body.items).items() if a is not None}, None
    return None, body.answers


@router.post(
    "/v1/surveys/{invitation_id}/responses",
    status_code=status.HTTP_201_CREATED,
    response_model=ResponseResult,
    summary="Answer a questionnaire (QLQ-C30: {'items': {'1': 1-4, …, '30': 1-7}}; experience: {'answers': {'q1': …}})",
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": _BODY_SCHEMA}}}},
    responses={
        200: {"description": "Identical resubmission: the first result"},
        400: {},
        401: {},
        403: {},
        404: {"description": "No such invitation for this member"},
        409: {"description": "Already answered differently"},
        410: {"description": "Expired or cancelled"},
        413: {},
        422: {"description": "Per-item errors"},
        503: {"description": "Broker unavailable or state rebuilding; retry"},
    },
)
async def respond(invitation_id: UUID, request: Request, principal: Member, runtime: Runtime):
    if not runtime.rebuilt.is_set():
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail="survey state is being rebuilt; retry",
                            headers={"Retry-After": "2"})
    inv = runtime.book.invitations.get(invitation_id)
    if inv is None or inv.scheduled.member_id != principal.subject or inv.status == "scheduled":
        raise refuse(status.HTTP_404_NOT_FOUND, "no such invitation for this member")
    data = await read_json(request, runtime.settings.max_body_bytes)
    items, answers = parse_answers(inv.scheduled.instrument, data)
    async with runtime.lock(invitation_id):
        if inv.response is not None:
            # answers are stored sealed: compared in clear (a new seal of the same text differs)
            same = inv.response.items == items and free_text.plain(answers) == free_text.opened(
                runtime.keys, inv.scheduled.member_id, inv.response.answers)
            if not same:
                raise refuse(status.HTTP_409_CONFLICT, "this questionnaire was already answered differently")
            return JSONResponse(result_view(inv).model_dump(mode="json"), status.HTTP_200_OK)
        if inv.status == "cancelled":
            raise refuse(status.HTTP_410_GONE, "this questionnaire was cancelled")
        if runtime.book.past_expiry(inv):
            raise refuse(status.HTTP_410_GONE, f"this questionnaire expired at {inv.scheduled.expires_at.isoformat()}")
        now: datetime = runtime.now()
        header = inv.header()
        response_id = step_event_id(inv.id, "response")
        try:  # free text is written encrypted with the member's data key (docs/erasure.md)
            sealed = free_text.seal(runtime.keys, principal.subject, answers) if answers is not None else None
        except UnreadableText:
            raise refuse(status.HTTP_404_NOT_FOUND, "no such invitation for this member") from None
        responded = SurveyResponded(event_id=step_event_id(inv.id, "responded"), response_id=response_id,
                                    items=items, answers=sealed, occurred_at=now, **header)
        scored = None
        if items is not None:
            result = score({int(k): v for k, v in items.items()})
            scored = SurveyScored(event_id=step_event_id(inv.id, "scored"), response_id=response_id,
                                  scores=ScaleScores(**result.scores), summary=result.summary,
                                  items_answered=result.items_answered, occurred_at=now, **header)
        try:
            await runtime.record_response(responded, scored)
        except BrokerUnavailable:
            raise refuse(status.HTTP_503_SERVICE_UNAVAILABLE, "answer not stored; retry") from None
    return result_view(inv)
