"""`GET /v1/members/me/today`: a member reads their own day (tasks in force, which are done,
reminders). The member comes from the token's subject alone: there is no way to name another."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status

from contracts.member_day import MemberDay
from services.common.auth import Member

from ..deps import RuntimeDep

router = APIRouter(prefix="/v1/members/me", tags=["members"])


@router.get("/today", response_model=MemberDay, summary="The calling member's own day",
            responses={401: {}, 403: {"description": "Not a member token"},
                       404: {"description": "The member's enrolment is not known (yet)"}, 503: {}})
async def my_day(principal: Member, runtime: RuntimeDep) -> MemberDay:
    state = runtime.state
    day = state.member_day(principal.subject, state.now())
    if day is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no enrolment known for this member")
    return MemberDay.model_validate(day)
