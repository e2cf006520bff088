"""Call queue API: nurses (scoped to their cohorts) and admins work the alerts.

Every action becomes an event on `alerts` (acks=all) and is folded with the queue's own reducer
before the answer, so the response shows the new state; conflicting actions get 409.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID, uuid4

from fastapi import APIRouter, Body, HTTPException, Query, Request, status

from contracts.alerts import AlertAcknowledged, AlertEvent, AlertResolved, CallLogged, CallRequest, ResolveRequest
from services.common.audit import record_access
from services.common.auth import Admin, Principal, Staff, require_cohort, require_visible
from services.common.kafka import BrokerUnavailable
from services.common.member_keys import UnreadableText

from ..deps import RuntimeDep
from ..queue import AlertView
from ..runtime import NotifierRuntime

router = APIRouter(prefix="/v1", tags=["call queue"])


def view_out(runtime: NotifierRuntime, view: AlertView) -> dict:
    out = view.public() | {"member": runtime.state.engagement_of(view.member_id, through=view.through)}
    for call in out["calls"]:  # notes are stored encrypted; an erased member's read "[erased]"
        if call.get("note"):
            call["note"] = runtime.keys.read(view.member_id, call["note"])
    return out


def _alert(runtime: NotifierRuntime, principal: Principal, alert_id: UUID) -> AlertView:
    view = runtime.state.queue.alerts.get(alert_id)
    if view is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="unknown alert")
    require_visible(principal, view.cohort, "alert")  # another cohort's alert: the same 404
    return view


@router.get("/alerts", summary="The call queue, oldest first")
async def list_alerts(
    request: Request,
    principal: Staff,
    runtime: RuntimeDep,
    status_: Annotated[
        Literal["open", "acknowledged", "resolved", "unresolved"] | None,
        Query(
            alias="status",
            description="Only alerts in this state (escalated alerts are open; unresolved = open or acknowledged)",
        ),
    ] = None,
    cohort: Annotated[str | None, Query(max_length=64)] = None,
    kind: Annotated[Literal["inactivity", "symptom"] | None, Query(description="Only alerts of this kind")] = None,
    escalated: Annotated[
        bool | None, Query(description="Only escalated (true) or not escalated (false) alerts")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=5000, description="At most this many, oldest first")] = 1000,
) -> list[dict]:
    if cohort is not None:
        require_cohort(principal, cohort)
    wanted = {"unresolved": {"open", "acknowledged"}}.get(status_ or "", {status_} if status_ else None)
    views = [v for v in runtime.state.queue.alerts.values()
             if principal.may_see_cohort(v.cohort) and (wanted is None or v.status in wanted)
             and (cohort is None or v.cohort == cohort) and (kind is None or v.kind == kind)
             and (escalated is None or (v.escalated_at is not None) == escalated)]
    views.sort(key=lambda v: (v.raised_at, str(v.alert_id)))
    shown = [view_out(runtime, v) for v in views[:limit]]
    await record_access(request, principal, "call_queue", cohort=cohort, returned=len(shown))
    return shown


@router.get("/alerts/{alert_id}", summary="One alert")
async def get_alert(alert_id: UUID, principal: Staff, runtime: RuntimeDep, request: Request) -> dict:
    view = _alert(runtime, principal, alert_id)
    await record_access(request, principal, "alert", cohort=view.cohort, target=str(alert_id), returned=1)
    return view_out(runtime, view)


async def _act(runtime: NotifierRuntime, principal: Principal, alert_id: UUID, build) -> dict:
    async with runtime.lock(alert_id):
        view = _alert(runtime, principal, alert_id)
        if runtime.state.aliases.is_renamed(view.member_id):  # staff actions would write the pseudonym to the log
            raise HTTPException(status.HTTP_409_CONFLICT, detail="the member was erased")
        event: AlertEvent = build(view, runtime.state.now())
        reason = runtime.state.queue.conflict(event)
        if reason is not None:
            raise HTTPException(status.HTTP_409_CONFLICT, detail=reason)
        try:
            view = await runtime.act(event)
        except BrokerUnavailable:
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail="broker did not acknowledge; retry",
                                headers={"Retry-After": "5"}) from None
        return view_out(runtime, view)


def _common(view: AlertView, now: datetime) -> dict:
    return dict(event_id=uuid4(), alert_id=view.alert_id, member_id=view.member_id, cohort=view.cohort, occurred_at=now)


@router.post("/alerts/{alert_id}/ack", summary="Acknowledge: the nurse takes the call")
async def acknowledge(alert_id: UUID, principal: Staff, runtime: RuntimeDep) -> dict:
    return await _act(runtime, principal, alert_id,
                      lambda v, now: AlertAcknowledged(**_common(v, now), by=principal.subject))


@router.post("/alerts/{alert_id}/calls", status_code=status.HTTP_201_CREATED, summary="Log a call outcome")
async def log_call(alert_id: UUID, body: CallRequest, principal: Staff, runtime: RuntimeDep) -> dict:
    return await _act(runtime, principal, alert_id,
                      lambda v, now: CallLogged(**_common(v, now), by=principal.subject, outcome=body.outcome,
                                                note=_sealed(runtime, v.member_id, body.note)))


def _sealed(runtime: NotifierRuntime, member_id: str, note: str | None) -> str | None:
    try:
        return runtime.keys.seal(member_id, note)
    except UnreadableText:
        raise HTTPException(status.HTTP_409_CONFLICT, detail="the member was erased") from None


@router.post("/alerts/{alert_id}/resolve", summary="Resolve by hand")
async def resolve(alert_id: UUID, principal: Staff, runtime: RuntimeDep,
                  body: Annotated[ResolveRequest | None, Body()] = None) -> dict:
    return await _act(runtime, principal, alert_id,
                      lambda v, now: AlertResolved(**_common(v, now), reason="manual", by=principal.subject))


@router.get("/members/{member_id}/engagement", summary="A member's last activity and recent days (staff)")
async def member_engagement(member_id: str, principal: Staff, runtime: RuntimeDep, request: Request) -> dict:
    member = runtime.state.members.get(member_id)
    if member is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="unknown member")
    require_visible(principal, member.cohort, "member")  # another cohort's member: the same 404
    await record_access(request, principal, "member_engagement", cohort=member.cohort, target=member_id, returned=1)
    return {"member_id": member_id, "cohort": member.cohort} | runtime.state.engagement_of(member_id)


@router.get("/members/{member_id}/panel",
            summary="Before a call (staff): the last N days, QLQ-C30 scores per timepoint, alerts and call outcomes")
async def member_panel(member_id: str, principal: Staff, runtime: RuntimeDep, request: Request,
                       days: Annotated[int, Query(ge=1, le=90, description="Days back from the member's today")] = 28,
                       ) -> dict:
    member = runtime.state.members.get(member_id)
    if member is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="unknown member")
    require_visible(principal, member.cohort, "member")  # another cohort's member: the same 404
    await record_access(request, principal, "member_panel", cohort=member.cohort, target=member_id, returned=1)
    return {"member_id": member_id, "cohort": member.cohort} | runtime.state.member_panel(member_id, days)


@router.get("/notifier/status", summary="Processing status (admin)")
async def processing_status(_: Admin, request: Request) -> dict:
    runtime: NotifierRuntime = request.app.state.runtime
    return {
        "rebuilt": runtime.rebuilt.is_set(), "rebuild_seconds": runtime.rebuild_seconds,
        "ticks_done": {str(p): t.isoformat() for p, t in sorted(runtime.state.ticks_done.items())},
        "members": len(runtime.state.members), "alerts": len(runtime.state.queue.alerts),
        "unresolved": len(runtime.state.queue.unresolved_by_member),
        "delivered": sum(v == "delivered" for v in runtime.state.done.values()),
        "failed": sum(v == "failed" for v in runtime.state.done.values()),
        "pending_deliveries": sum(1 for key in runtime.state.requested if key not in runtime.state.done),
    }
