"""`GET /v1/cohorts/{cohort}/weekly|daily|members|daytypes` — nurse/admin tokens, scoped to their cohorts."""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, status

from contracts.common import CohortId
from contracts.metrics_api import DayRates, DayTypeRates, MemberSummary, WeekRates
from services.common.auth import Principal, Staff, require_cohort

from .. import queries
from ..answers import UNKNOWN_COHORT, Answers
from ..deps import AnswersDep

router = APIRouter(prefix="/v1/cohorts/{cohort}", tags=["metrics"])
CohortPath = Annotated[CohortId, Path(description="Cohort identifier")]

_404 = {404: {"description": "No enrolment or settings for this cohort yet"},
        403: {"description": "The token may not see this cohort"}}


async def _run(answers: Answers, principal: Principal, cohort: str, fn, *args):
    require_cohort(principal, cohort)
    answer = await asyncio.to_thread(answers.get, fn, cohort, *args)
    if answer is UNKNOWN_COHORT:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"unknown cohort {cohort!r}")
    return answer


@router.get("/weekly", response_model=list[WeekRates], responses=_404,
            summary="Study-week login / participation / completion rates (the paper's Table 3)")
async def weekly(cohort: CohortPath, principal: Staff, answers: AnswersDep) -> list[WeekRates]:
    return await _run(answers, principal, cohort, queries.weekly)


@router.get("/daily", response_model=list[DayRates], responses=_404,
            summary="Rates per local calendar day, optionally between from and to (inclusive)")
async def daily(cohort: CohortPath, principal: Staff, answers: AnswersDep,
                from_: Annotated[date | None, Query(alias="from", description="First day (YYYY-MM-DD)")] = None,
                to: Annotated[date | None, Query(description="Last day (YYYY-MM-DD), inclusive")] = None,
                ) -> list[DayRates]:
    if from_ and to and from_ > to:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            detail=[{"loc": ["query", "from"], "msg": "from must not be after to", "type": "value_error"}])
    return await _run(answers, principal, cohort, queries.daily, from_, to)


@router.get("/members", response_model=list[MemberSummary], responses=_404,
            summary="Per member: follow-up days, rates over the first 28 days, active flag")
async def members(cohort: CohortPath, principal: Staff, answers: AnswersDep) -> list[MemberSummary]:
    return await _run(answers, principal, cohort, queries.members)


@router.get("/daytypes", response_model=list[DayTypeRates], responses=_404,
            summary="Working vs non-working days: rates and actions per member-day (mean, sample SD)")
async def daytypes(cohort: CohortPath, principal: Staff, answers: AnswersDep) -> list[DayTypeRates]:
    return await _run(answers, principal, cohort, queries.daytypes)
