"""`GET /v1/audit` — the audit trail of staff reads, for admins (docs/security.md, "Audit trail").

Every service writes its staff reads to the `audit` topic; the metrics sink stores them in ClickHouse
(`staff_access`), the one store that already keeps every topic queryable. Reading the trail is itself
recorded."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import AwareDatetime, BaseModel

from contracts.audit import AuditedResource
from services.common.audit import record_access
from services.common.auth import Admin

from ..audit_store import audit_entries

router = APIRouter(prefix="/v1", tags=["audit"])
Id = Annotated[str | None, Query(min_length=1, max_length=64)]


class AuditEntry(BaseModel):
    event_id: str
    occurred_at: datetime
    actor: str
    role: str
    service: str
    resource: AuditedResource
    cohort: str | None
    target: str | None
    returned: int


@router.get("/audit", response_model=list[AuditEntry],
            summary="Staff reads of member-level data, newest first (who, what, when; admins only)")
async def audit(request: Request, principal: Admin, actor: Id = None, target: Id = None, cohort: Id = None,
                since: Annotated[AwareDatetime | None, Query(alias="from")] = None,
                until: Annotated[AwareDatetime | None, Query(alias="to")] = None,
                limit: Annotated[int, Query(ge=1, le=10_000)] = 1000) -> list[AuditEntry]:
    rows = await asyncio.to_thread(audit_entries, request.app.state.ch, actor, target, cohort, since, until, limit)
    await record_access(request, principal, "audit_trail", cohort=cohort, target=target, returned=len(rows))
    return [AuditEntry(**r) for r in rows]
