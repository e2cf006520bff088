"""The notifier FastAPI application; its lifespan rebuilds the state from the log and, unless disabled,
runs the faust agents (rules + delivery) in the same process."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from services.common.logging import configure_logging
from services.common.logstate import ready_when_rebuilt
from services.common.stream import runtime_and_stream
from services.common.web import health_router, mount_metrics, service_app

from .routers import alerts, members
from .runtime import NotifierRuntime
from .settings import NotifierSettings, get_settings
from .stream import build_faust_app

STATIC = Path(__file__).parent / "static"


def create_app(settings: NotifierSettings | None = None, run_stream: bool = True) -> FastAPI:
    """`run_stream=False`: API + log tail only (tests drive `app.state.runtime`; a read-only replica)."""
    settings = settings or get_settings()
    configure_logging("notifier", settings.log_level)

    def lifespan(app: FastAPI):
        return runtime_and_stream("notifier", settings, app.state.runtime, build_faust_app, run_stream)

    app = service_app("notifier", settings, lifespan=lifespan,
                      description="Nurse call alerts (inactivity rules, escalation, call queue), member reminders "
                                  "and delivery.")
    app.state.runtime = NotifierRuntime(settings)
    app.include_router(health_router(ready_when_rebuilt(settings.kafka_bootstrap)))
    app.include_router(alerts.router)
    app.include_router(members.router)
    mount_metrics(app)

    @app.get("/", include_in_schema=False)
    async def console() -> FileResponse:
        return FileResponse(STATIC / "console.html", media_type="text/html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")  # the console's script and styles

    return app
