"""`GET /v1/cohorts/{cohort}/weekly|daily|members|daytypes|summary` — nurse/admin tokens, scoped to
their cohorts. Definitions (denominators, complete days, activity): docs/metrics.md."""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Request, status

from contracts.common import CohortId
from contracts.metrics_api import (
    CohortSummary, DayRates, DayTypeRates, Denominator, MemberSummary, StageFilter, WeekRates,
)
from services.common.audit import record_access
from services.common.auth import Aggregates, Principal, Staff, require_cohort

from .. import queries
from ..answers import UNKNOWN_COHORT, Answers
from ..deps import AnswersDep

router = APIRouter(prefix="/v1/cohorts/{cohort}", tags=["metrics"])
CohortPath = Annotated[CohortId, Path(description="Cohort identifier")]

DenominatorQuery = Annotated[Denominator, Query(
    description="followup: member-days in follow-up (default); enrolled: every enrolled member's days up to the "
                "cohort's end, days after a withdrawal counting as not logged in")]

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
async def weekly(cohort: CohortPath, principal: Aggregates, answers: AnswersDep,
                 denominator: DenominatorQuery = "followup") -> list[WeekRates]:
    return await _run(answers, principal, cohort, queries.weekly, denominator)


@router.get("/summary", response_model=CohortSummary, responses=_404,
            summary="Intervention stage: mean of the weekly rates and pooled rate, both denominators")
async def summary(cohort: CohortPath, principal: Aggregates, answers: AnswersDep) -> CohortSummary:
    return await _run(answers, principal, cohort, queries.summary)


@router.get("/daily", response_model=list[DayRates], responses=_404,
            summary="Rates per local calendar day, optionally between from and to (inclusive)")
async def daily(cohort: CohortPath, principal: Aggregates, answers: AnswersDep,
                from_: Annotated[date | None, Query(alias="from", description="First day (YYYY-MM-DD)")] = None,
                to: Annotated[date | None, Query(description="Last day (YYYY-MM-DD), inclusive")] = None,
                denominator: DenominatorQuery = "followup") -> list[DayRates]:
    if from_ and to and from_ > to:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            detail=[{"loc": ["query", "from"], "msg": "from must not be after to", "type": "value_error"}])
    return await _run(answers, principal, cohort, queries.daily, from_, to, denominator)


@router.get("/members", response_model=list[MemberSummary], responses=_404,
            summary="Per member: complete follow-up days, rates over the first 28 days, activity")
async def members(cohort: CohortPath, principal: Staff, answers: AnswersDep, request: Request) -> list[MemberSummary]:
    listed = await _run(answers, principal, cohort, queries.members)
    await record_access(request, principal, "member_list", cohort=cohort, returned=len(listed))  # docs/security.md
    return listed


@router.get("/daytypes", response_model=list[DayTypeRates], responses=_404,
            summary="Working vs non-working days: rates, actions per member-day and per member (mean, sample SD)")
async def daytypes(cohort: CohortPath, principal: Aggregates, answers: AnswersDep,
                   stage: Annotated[StageFilter, Query(description="Only the days of this study stage")] = "all",
                   denominator: DenominatorQuery = "followup") -> list[DayTypeRates]:
    return await _run(answers, principal, cohort, queries.daytypes, stage, denominator)
