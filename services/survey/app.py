"""The survey FastAPI application; its lifespan runs the survey runtime (book rebuilt from `surveys`)
and, unless disabled, the faust stream processing (members + clock.ticks) in the same process."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack, asynccontextmanager

from fastapi import FastAPI, Request

from services.common.kafka import broker_reachable, ensure_topics
from services.common.logging import configure_logging, log
from services.common.stream import faust_app_running
from services.common.web import (
    add_components, health_router, install_error_handlers, install_in_flight_gauge, mount_metrics,
)

from .routers import members, staff
from .runtime import SurveyRuntime
from .settings import SurveySettings, get_settings
from .stream import build_faust_app


def create_app(settings: SurveySettings | None = None, run_stream: bool = True) -> FastAPI:
    """`run_stream=False` serves the API and tails `surveys` without consuming members/ticks
    (tests drive `app.state.runtime` directly; a read-only replica)."""
    settings = settings or get_settings()
    configure_logging("survey", settings.log_level)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if settings.ensure_topics:
            await asyncio.to_thread(ensure_topics, settings.kafka_bootstrap)
        runtime: SurveyRuntime = app.state.runtime
        await runtime.start()
        try:
            async with AsyncExitStack() as stack:
                if run_stream:
                    await stack.enter_async_context(faust_app_running(build_faust_app(runtime)))
                log.info("survey_started", kafka=settings.kafka_bootstrap, stream=run_stream)
                yield
        finally:
            await runtime.stop()

    app = FastAPI(
        title="CareCircle survey",
        version="1.0",
        description="Scheduled questionnaires (EORTC QLQ-C30 T0/T1/T2, experience survey), responses and scoring.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.runtime = SurveyRuntime(settings)
    install_error_handlers(app)
    install_in_flight_gauge(app, "survey")

    async def ready(request: Request) -> bool:
        return request.app.state.runtime.rebuilt.is_set() and await broker_reachable(settings.kafka_bootstrap)

    app.include_router(health_router(ready))
    app.include_router(members.router)
    app.include_router(staff.router)
    mount_metrics(app)
    add_components(app, members.BODY_COMPONENTS)
    return app
