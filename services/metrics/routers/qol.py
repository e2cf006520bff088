"""`GET /v1/cohorts/{cohort}/qol` — QLQ-C30 change T0 → T2 of active vs inactive members (Tables 4/5).

Scores come from ClickHouse (`survey_scores`, sunk from `survey.scored`); the active flag is the
metrics service's own `/members` answer (login rate over the first 28 follow-up days); the
statistics are the survey service's pure `qol_change`."""

from __future__ import annotations


from fastapi import APIRouter

from contracts.qol import ScaleComparison
from services.common.auth import Aggregates
from services.metrics.qol_analysis import qol_change
from services.metrics.survey_scores import QOL_SCORES_SQL, qol_rows

from .. import queries
from ..deps import AnswersDep
from .api import CohortPath, _404, _run

router = APIRouter(prefix="/v1/cohorts/{cohort}", tags=["metrics"])


def qol(ch, cohort: str) -> list[ScaleComparison]:
    # Only members whose 28-day window is complete are grouped (activity pending/insufficient: left out).
    active = {m.member_id: m.active for m in queries.members(ch, cohort) if m.active is not None}
    scores = ch.query(QOL_SCORES_SQL, {"cohort": cohort})
    return qol_change(qol_rows(scores, active))


@router.get("/qol", response_model=list[ScaleComparison], responses=_404,
            summary="QLQ-C30 change T0→T2, active vs inactive (Student t) and active T0 vs T2 (paired t on T2 − T0)")
async def qol_endpoint(cohort: CohortPath, principal: Aggregates, answers: AnswersDep) -> list[ScaleComparison]:
    return await _run(answers, principal, cohort, qol)
