"""`GET /v1/cohorts/{cohort}/export` — the research export (docs/export.md): admins, or researchers of
the cohort. Member-level rows, so the read is on the audit trail before a byte is served."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.responses import StreamingResponse

from services.common.audit import record_access
from services.common.auth import Research, require_cohort

from .. import queries
from ..export import prepare, zip_of
from .api import CohortPath

router = APIRouter(prefix="/v1/cohorts/{cohort}", tags=["export"])

IdentifiedQuery = Annotated[bool, Query(
    description="Real member and alert ids instead of pseudonyms of this export (admins only)")]
_RESPONSES = {
    200: {"content": {"application/zip": {}}, "description": "ZIP of CSV files, data_dictionary.csv and README.md"},
    403: {"description": "Not an admin or a researcher of this cohort, or identified=true without role admin"},
    404: {"description": "No enrolment or settings for this cohort yet"},
    503: {"description": "The audit trail or the metrics store is unavailable: nothing is served"},
}


@router.get("/export", response_class=StreamingResponse, responses=_RESPONSES,
            summary="Research export: member-days, weekly rates, QLQ-C30 scores, alerts and calls (ZIP of CSV)")
async def export(cohort: CohortPath, principal: Research, request: Request,
                 identified: IdentifiedQuery = False) -> StreamingResponse:
    require_cohort(principal, cohort)
    if identified and principal.role != "admin":
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="identified=true requires role admin")
    ch = request.app.state.ch
    if not await asyncio.to_thread(queries.cohort_exists, ch, cohort):
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"unknown cohort {cohort!r}")
    export = await asyncio.to_thread(prepare, ch, cohort, identified)  # the big read: a failure is a clean 503
    await record_access(request, principal, "research_export_identified" if identified else "research_export",
                        cohort=cohort, returned=export.members)  # before any data (docs/security.md, "Audit trail")
    return StreamingResponse(zip_of(export), media_type="application/zip", headers={
        "Content-Disposition": f'attachment; filename="{cohort}-export.zip"', "Cache-Control": "no-store"})
