"""FastAPI dependencies: settings and the shared publisher live on app.state (set by the lifespan)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request, status

from services.common.auth import Principal, require_role
from services.common.kafka import Publisher

from .directory import Directory
from .settings import IngestSettings


async def get_app_settings(request: Request) -> IngestSettings:
    return request.app.state.settings


async def get_publisher(request: Request) -> Publisher:
    return request.app.state.publisher


async def event_sender(
    request: Request, principal: Annotated[Principal, Depends(require_role("member", "admin"))]
) -> Principal:
    """Members and admins may send events; members within their rate limit (429 otherwise)."""
    if principal.role == "member":
        request.app.state.member_rate_limit.check(principal.subject)
    return principal


async def get_directory(request: Request) -> Directory:
    """The member directory once it has read the members/clock log to its end (503 before: a guard
    decided on a half-read log would refuse enrolled members or accept a conflicting enrolment)."""
    feed = request.app.state.directory_feed
    if feed is None or not feed.ready.is_set():
        retry = request.app.state.settings.retry_after_s
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail="member directory loading; retry later",
                            headers={"Retry-After": str(retry)})
    return request.app.state.directory
