"""The notifier FastAPI application; its lifespan rebuilds the state from the log and, unless disabled,
runs the faust agents (rules + delivery) in the same process."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from services.common.log_state_app import log_state_app

from .routers import alerts, members
from .runtime import NotifierRuntime
from .settings import NotifierSettings, get_settings
from .stream import build_faust_app

STATIC = Path(__file__).parent / "static"


def create_app(settings: NotifierSettings | None = None, run_stream: bool = True) -> FastAPI:
    """`run_stream=False`: API + log tail only (tests drive `app.state.runtime`; a read-only replica)."""
    app = log_state_app("notifier", settings or get_settings(), NotifierRuntime, build_faust_app, run_stream,
                        description="Nurse call alerts (inactivity rules, escalation, call queue), member reminders "
                                    "and delivery.",
                        routers=[alerts.router, members.router])

    @app.get("/", include_in_schema=False)
    async def console() -> FileResponse:
        return FileResponse(STATIC / "console.html", media_type="text/html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")  # the console's script and styles
    return app
