"""The survey FastAPI application; its lifespan runs the survey runtime (book rebuilt from `surveys`)
and, unless disabled, the faust stream processing (members + clock.ticks) in the same process."""

from __future__ import annotations

from fastapi import FastAPI

from services.common.logging import configure_logging
from services.common.logstate import ready_when_rebuilt
from services.common.stream import runtime_and_stream
from services.common.web import (
    add_components, health_router, mount_metrics, service_app,
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

    def lifespan(app: FastAPI):
        return runtime_and_stream("survey", settings, app.state.runtime, build_faust_app, run_stream)

    app = service_app("survey", settings, lifespan=lifespan,
                      description="Scheduled questionnaires (EORTC QLQ-C30 T0/T1/T2, experience survey), responses "
                                  "and scoring.")
    app.state.runtime = SurveyRuntime(settings)
    app.include_router(health_router(ready_when_rebuilt(settings.kafka_bootstrap)))
    app.include_router(members.router)
    app.include_router(staff.router)
    mount_metrics(app)
    add_components(app, members.BODY_COMPONENTS)
    return app
