"""Staff API: the experience survey's free-text answers, only for staff of the cohort.

Free text never goes to logs, metrics or analytics; it is served here to nurses and admins whose
token lists the cohort (an admin token without the cohort does not see it either)."""

from __future__ import annotations

import csv
import io
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Request, status
from fastapi.responses import Response

from contracts.common import CohortId
from contracts.surveys import ExperienceRow
from services.common.audit import record_access
from services.common.auth import Principal, Staff

from .. import answers as free_text
from ..deps import Runtime
from ..runtime import SurveyRuntime

router = APIRouter(tags=["staff"])
CSV_COLUMNS = ("member_id", "invitation_id", "responded_at", "q1", "q2", "q3")
NO_STORE = {"Cache-Control": "no-store"}


def rows(runtime: SurveyRuntime, principal: Principal, cohort: str) -> list[ExperienceRow]:
    if cohort not in principal.cohorts:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="no access to this cohort")
    if not runtime.rebuilt.is_set():
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail="survey state is being rebuilt; retry",
                            headers={"Retry-After": "2"})
    out = []
    for inv in runtime.book.experience_responses(cohort):
        member_id = inv.scheduled.member_id
        answers = free_text.opened(runtime.keys, member_id, inv.response.answers)  # `[erased]` once erased
        out.append(ExperienceRow(member_id=member_id, invitation_id=inv.id, responded_at=inv.response.occurred_at,
                                 **answers))
    return out


def _cell(value) -> str:
    """CSV-injection safe: a cell a spreadsheet would run as a formula gets a leading quote."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def as_csv(cohort: str, data: list[ExperienceRow]) -> Response:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for row in data:
        dumped = row.model_dump(mode="json")
        writer.writerow([_cell(dumped[c]) for c in CSV_COLUMNS])
    return Response(buffer.getvalue(), media_type="text/csv; charset=utf-8", headers=NO_STORE | {
        "Content-Disposition": f'attachment; filename="{cohort}-experience.csv"'})


@router.get("/v1/cohorts/{cohort}/experience", response_model=list[ExperienceRow],
            summary="Experience survey answers of a cohort (JSON, or CSV with ?format=csv)")
async def experience(cohort: Annotated[CohortId, Path()], principal: Staff, runtime: Runtime, request: Request,
                     format: Annotated[Literal["json", "csv"], Query()] = "json"):
    data = rows(runtime, principal, cohort)
    await record_access(request, principal, "survey_export" if format == "csv" else "survey_answers", cohort=cohort,
                        returned=len(data))
    if format == "csv":
        return as_csv(cohort, data)
    return Response(b"[" + b",".join(r.model_dump_json().encode() for r in data) + b"]",
                    media_type="application/json", headers=NO_STORE)


@router.get("/v1/cohorts/{cohort}/experience.csv", summary="Experience survey answers of a cohort as CSV",
            response_class=Response, responses={200: {"content": {"text/csv": {}}}})
async def experience_csv(cohort: Annotated[CohortId, Path()], principal: Staff, runtime: Runtime,
                         request: Request) -> Response:
    data = rows(runtime, principal, cohort)
    await record_access(request, principal, "survey_export", cohort=cohort, returned=len(data))
    return as_csv(cohort, data)
