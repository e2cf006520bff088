"""The survey FastAPI application; its lifespan runs the survey runtime (book rebuilt from `surveys`)
and, unless disabled, the faust stream processing (members + clock.ticks) in the same process."""

from __future__ import annotations

from fastapi import FastAPI

from services.common.log_state_app import log_state_app
from services.common.web import add_components

from .routers import members, staff
from .runtime import SurveyRuntime
from .settings import SurveySettings, get_settings
from .stream import build_faust_app


def create_app(settings: SurveySettings | None = None, run_stream: bool = True) -> FastAPI:
    """`run_stream=False` serves the API and tails `surveys` without consuming members/ticks
    (tests drive `app.state.runtime` directly; a read-only replica)."""
    app = log_state_app("survey", settings or get_settings(), SurveyRuntime, build_faust_app, run_stream,
                        description="Scheduled questionnaires (EORTC QLQ-C30 T0/T1/T2, experience survey), responses "
                                    "and scoring.",
                        routers=[members.router, staff.router])
    add_components(app, members.BODY_COMPONENTS)
    return app
