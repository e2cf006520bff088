"""FastAPI dependencies: settings and the shared publisher live on app.state (set by the lifespan)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from services.common.auth import Principal, require_role
from services.common.kafka import Publisher

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
