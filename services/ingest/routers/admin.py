"""Admin API: cohort settings, enrolments, withdrawals, zone changes, erasure and the simulation clock.

Each request becomes one server event on its topic; 202 once the broker acknowledged it. Commands
are checked against the member directory first (409/404/422, docs/services/ingest.md) and folded
into it once written, so this replica's next request already sees them."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timezone
from typing import Annotated
from uuid import uuid4

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, status
from pydantic import BaseModel

from contracts.clock import ClockRequest, ClockTick, tick_event_id
from contracts.common import CohortId, MemberId
from contracts.erasure import MemberErased
from contracts.members import (
    CohortConfigured, CohortSettings, EnrollmentRequest, MemberEnrolled, MemberTimezoneChanged, MemberWithdrawn,
    TimezoneChangeRequest, WithdrawalRequest,
)
from contracts.topics import CLOCK_TICKS, MEMBER_ERASURES, MEMBER_KEYS, MEMBERS
from services.common.auth import Admin
from services.common.kafka import Publisher, Record
from services.common.member_keys import new_member_key

from ..deps import get_app_settings, get_directory, get_publisher
from ..directory import Directory, Refusal
from ..settings import IngestSettings

router = APIRouter(tags=["admin"])
PublisherDep = Annotated[Publisher, Depends(get_publisher)]
SettingsDep = Annotated[IngestSettings, Depends(get_app_settings)]
DirectoryDep = Annotated[Directory, Depends(get_directory)]


def commands_lock(request: Request) -> asyncio.Lock:
    """Check, write and fold one member command at a time: two concurrent enrolments of one member with
    different fields must not both pass the check. (Across replicas the log decides: the first
    enrolment in log order is the member's; a later conflicting one changes nothing.)"""
    return request.app.state.member_commands


def _refuse(refusal: Refusal, where: str) -> HTTPException:
    kind = {404: "not_found", 409: "conflict", 422: "value_error"}[refusal.status]
    return HTTPException(refusal.status, detail=[{"loc": [where, refusal.field], "msg": refusal.why, "type": kind}])


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _record(topic: str, key: str, event: BaseModel, partition: int | None = None) -> Record:
    return Record(topic, key.encode(), event.model_dump_json().encode(), partition)


@router.put("/v1/cohorts/{cohort}/settings", status_code=status.HTTP_202_ACCEPTED, response_model=CohortConfigured,
            responses={422: {"description": "Invalid settings, or effective_on before the current date"}})
async def configure_cohort(
    cohort: Annotated[CohortId, Path()], body: CohortSettings, _: Admin, publisher: PublisherDep,
    directory: DirectoryDep, request: Request,
    effective_on: Annotated[date | None, Query(
        description="First day judged by the new tasks, holidays, working_days and reminder_times "
                    "(default: the UTC date of the latest clock tick; not earlier than it)")] = None,
) -> CohortConfigured:
    async with commands_lock(request):
        when = directory.settings_effective_on(effective_on)
        if isinstance(when, Refusal):
            raise _refuse(when, "query")
        event = CohortConfigured(event_id=uuid4(), cohort=cohort, settings=body, effective_on=when, occurred_at=_now())
        await publisher.publish([_record(MEMBERS.name, f"cohort:{cohort}", event)])
        directory.fold(event)
    return event


@router.post("/v1/enrollments", status_code=status.HTTP_202_ACCEPTED, response_model=MemberEnrolled,
             responses={409: {"description": "Already enrolled with other fields, or re-enrolment in another cohort "
                                             "or before the withdrawal date"}})
async def enroll(body: EnrollmentRequest, _: Admin, publisher: PublisherDep, directory: DirectoryDep,
                 request: Request) -> MemberEnrolled:
    """Enrol a member; the same enrolment again changes nothing (202 with the recorded enrolment); a
    withdrawn member re-enrols in the same cohort (follow-up continues, docs/timeline.md)."""
    async with commands_lock(request):
        verdict = directory.enrolment(body)
        if isinstance(verdict, Refusal):
            raise _refuse(verdict, "body")
        if verdict.existing is not None:
            return verdict.existing
        event = MemberEnrolled(event_id=uuid4(), occurred_at=_now(), **body.model_dump())
        records = [_record(MEMBERS.name, event.member_id, event)]
        if verdict.kind == "new":  # the member's data key for free text (docs/erasure.md), before any text
            records.insert(0, _record(MEMBER_KEYS.name, event.member_id, new_member_key(event.member_id)))
        await publisher.publish(records)
        directory.fold(event)
    return event


@router.post("/v1/withdrawals", status_code=status.HTTP_202_ACCEPTED, response_model=MemberWithdrawn)
async def withdraw(body: WithdrawalRequest, _: Admin, publisher: PublisherDep, request: Request) -> MemberWithdrawn:
    """Withdraw a member from `withdrawn_on` (the first day outside follow-up; a future date takes
    effect on that date)."""
    event = MemberWithdrawn(event_id=uuid4(), occurred_at=_now(), **body.model_dump())
    async with commands_lock(request):
        await publisher.publish([_record(MEMBERS.name, event.member_id, event)])
        request.app.state.directory.fold(event)
    return event


@router.put("/v1/members/{member_id}/timezone", status_code=status.HTTP_202_ACCEPTED,
            response_model=MemberTimezoneChanged,
            responses={404: {"description": "Unknown member"},
                       422: {"description": "Unknown zone, or effective_on before the member's current local date"}})
async def change_timezone(member_id: Annotated[MemberId, Path()], body: TimezoneChangeRequest, _: Admin,
                          publisher: PublisherDep, directory: DirectoryDep, request: Request) -> MemberTimezoneChanged:
    """The member lives in `timezone` from `effective_on` on; earlier days keep their zone."""
    async with commands_lock(request):
        timeline = directory.timezone_change(member_id, body)
        if isinstance(timeline, Refusal):
            raise _refuse(timeline, "path" if timeline.field == "member_id" else "body")
        event = MemberTimezoneChanged(event_id=uuid4(), member_id=member_id, cohort=timeline.cohort,
                                      timezone=body.timezone, effective_on=body.effective_on, occurred_at=_now())
        await publisher.publish([_record(MEMBERS.name, member_id, event)])
        directory.fold(event)
    return event


@router.delete("/v1/members/{member_id}", status_code=status.HTTP_202_ACCEPTED, response_model=MemberErased,
               responses={404: {"description": "Unknown member, or already erased"}})
async def erase_member(member_id: Annotated[MemberId, Path()], _: Admin, publisher: PublisherDep,
                       directory: DirectoryDep, request: Request) -> MemberErased:
    """Erase a member (docs/erasure.md): the member's data key is destroyed (a tombstone on
    `member.keys`: their free text on the log can no longer be read) and `member.erased` tells every
    service to re-key the member's rows and state to a random pseudonym. Published numbers stay."""
    async with commands_lock(request):
        timeline = directory.erasure(member_id)
        if isinstance(timeline, Refusal):
            raise _refuse(timeline, "path")
        event = MemberErased(event_id=uuid4(), member_id=member_id, cohort=timeline.cohort, occurred_at=_now())
        # The tombstone first: once `member.erased` is on the log the key must already be gone.
        await publisher.publish([Record(MEMBER_KEYS.name, member_id.encode(), None)])
        await publisher.publish([_record(MEMBER_ERASURES.name, member_id, event)])
        directory.fold_erased(member_id)
    return event


@router.post("/v1/admin/clock", status_code=status.HTTP_202_ACCEPTED, response_model=ClockTick,
             responses={409: {"description": "CLOCK_MODE=wall: only the clock process moves time"}})
async def tick(body: ClockRequest, _: Admin, publisher: PublisherDep, settings: SettingsDep,
               request: Request) -> ClockTick:
    """Move simulated time (CLOCK_MODE=simulated only): one `clock.tick` to every partition of
    `clock.ticks`. Order is not checked here (ingest keeps no clock state for it): consumers ignore a
    tick that is not later than the latest they applied (docs/clock.md)."""
    if settings.clock_mode != "simulated":
        raise HTTPException(status.HTTP_409_CONFLICT, detail=(
            "the clock runs in wall mode (CLOCK_MODE=wall): time follows the wall clock and cannot be set; "
            "nothing was written"))
    event = ClockTick(event_id=tick_event_id(body.now), now=body.now)
    partitions = await asyncio.to_thread(publisher.partitions_for, CLOCK_TICKS.name)
    await publisher.publish([_record(CLOCK_TICKS.name, str(p), event, partition=p) for p in range(partitions)])
    request.app.state.directory.fold_tick(event.now)
    return event

