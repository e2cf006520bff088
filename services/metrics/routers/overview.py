"""`GET /v1/cohorts/overview` — the headline figures of every cohort the token may see, and
`GET /v1/cohorts/{cohort}/overview` — one cohort's (docs/clinical.md). Aggregates only: nurses,
researchers and admins alike."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Query

from contracts.metrics_api import CohortOverview
from services.common.auth import Aggregates

from .. import overview
from ..answers import UNKNOWN_COHORT
from ..deps import AnswersDep
from .api import CohortPath, _404, _run

router = APIRouter(prefix="/v1/cohorts", tags=["metrics"])


@router.get("/overview", response_model=list[CohortOverview],
            summary="Every cohort the token may see with its headline figures, by cohort name")
async def cohorts_overview(principal: Aggregates, answers: AnswersDep,
                           limit: Annotated[int, Query(ge=1, le=200, description="Cohorts per page")] = 50,
                           offset: Annotated[int, Query(ge=0, description="Cohorts to skip (by name)")] = 0,
                           ) -> list[CohortOverview]:
    def compute() -> list[CohortOverview]:
        names = overview.visible_cohorts(answers.ch, principal.role == "admin", principal.cohorts)
        rows = (answers.get(overview.headline, name) for name in names[offset:offset + limit])
        return [row for row in rows if row is not UNKNOWN_COHORT]

    return await asyncio.to_thread(compute)


@router.get("/{cohort}/overview", response_model=CohortOverview, responses=_404,
            summary="One cohort's headline figures: members, week, intervention means, activity, "
                    "questionnaire completion, attrition, nurse workload")
async def cohort_overview(cohort: CohortPath, principal: Aggregates, answers: AnswersDep) -> CohortOverview:
    return await _run(answers, principal, cohort, overview.headline)
