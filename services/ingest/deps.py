"""FastAPI dependencies: settings and the shared publisher live on app.state (set by the lifespan)."""

from __future__ import annotations

from fastapi import Request

from services.common.kafka import Publisher

from .settings import IngestSettings


def get_app_settings(request: Request) -> IngestSettings:
    return request.app.state.settings


def get_publisher(request: Request) -> Publisher:
    return request.app.state.publisher
