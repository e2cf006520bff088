"""Admin API: cohort settings, enrolments, withdrawals and the simulation clock.

Each request becomes one server event on its topic; 202 once the broker acknowledged it."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from typing import Annotated
from uuid import uuid4

from fastapi import APIRouter, Depends, HTTPException, Path, status
from pydantic import BaseModel

from contracts.clock import ClockRequest, ClockTick, tick_event_id
from contracts.common import CohortId
from contracts.members import (
    CohortConfigured, CohortSettings, EnrollmentRequest, MemberEnrolled, MemberWithdrawn, WithdrawalRequest,
)
from contracts.topics import CLOCK_TICKS, MEMBERS
from services.common.auth import Principal, require_role
from services.common.kafka import Publisher, Record

from ..deps import get_app_settings, get_publisher
from ..settings import IngestSettings

router = APIRouter(tags=["admin"])
Admin = Annotated[Principal, Depends(require_role("admin"))]
PublisherDep = Annotated[Publisher, Depends(get_publisher)]
SettingsDep = Annotated[IngestSettings, Depends(get_app_settings)]


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _record(topic: str, key: str, event: BaseModel, partition: int | None = None) -> Record:
    return Record(topic, key.encode(), event.model_dump_json().encode(), partition)


@router.put("/v1/cohorts/{cohort}/settings", status_code=status.HTTP_202_ACCEPTED, response_model=CohortConfigured)
async def configure_cohort(
    cohort: Annotated[CohortId, Path()], body: CohortSettings, _: Admin, publisher: PublisherDep
) -> CohortConfigured:
    event = CohortConfigured(event_id=uuid4(), cohort=cohort, settings=body, occurred_at=_now())
    await publisher.publish([_record(MEMBERS.name, f"cohort:{cohort}", event)])
    return event


@router.post("/v1/enrollments", status_code=status.HTTP_202_ACCEPTED, response_model=MemberEnrolled)
async def enroll(body: EnrollmentRequest, _: Admin, publisher: PublisherDep) -> MemberEnrolled:
    event = MemberEnrolled(event_id=uuid4(), occurred_at=_now(), **body.model_dump())
    await publisher.publish([_record(MEMBERS.name, event.member_id, event)])
    return event


@router.post("/v1/withdrawals", status_code=status.HTTP_202_ACCEPTED, response_model=MemberWithdrawn)
async def withdraw(body: WithdrawalRequest, _: Admin, publisher: PublisherDep) -> MemberWithdrawn:
    event = MemberWithdrawn(event_id=uuid4(), occurred_at=_now(), **body.model_dump())
    await publisher.publish([_record(MEMBERS.name, event.member_id, event)])
    return event


@router.post("/v1/admin/clock", status_code=status.HTTP_202_ACCEPTED, response_model=ClockTick,
             responses={409: {"description": "CLOCK_MODE=wall: only the clock process moves time"}})
async def tick(body: ClockRequest, _: Admin, publisher: PublisherDep, settings: SettingsDep) -> ClockTick:
    """Move simulated time (CLOCK_MODE=simulated only): one `clock.tick` to every partition of
    `clock.ticks`. Order is not checked here (ingest keeps no clock state): consumers ignore a tick
    that is not later than the latest they applied (docs/clock.md)."""
    if settings.clock_mode != "simulated":
        raise HTTPException(status.HTTP_409_CONFLICT, detail=(
            "the clock runs in wall mode (CLOCK_MODE=wall): time follows the wall clock and cannot be set; "
            "nothing was written"))
    event = ClockTick(event_id=tick_event_id(body.now), now=body.now)
    partitions = await asyncio.to_thread(publisher.partitions_for, CLOCK_TICKS.name)
    await publisher.publish([_record(CLOCK_TICKS.name, str(p), event, partition=p) for p in range(partitions)])
    return event

