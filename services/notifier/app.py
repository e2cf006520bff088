"""The notifier FastAPI application; its lifespan rebuilds the state from the log and, unless disabled,
runs the faust agents (rules + delivery) in the same process."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse

from services.common.kafka import broker_reachable, ensure_topics
from services.common.logging import configure_logging, log
from services.common.stream import faust_app_running
from services.common.web import health_router, install_error_handlers, install_in_flight_gauge, mount_metrics

from .routers import alerts
from .runtime import NotifierRuntime
from .settings import NotifierSettings, get_settings
from .stream import build_faust_app

STATIC = Path(__file__).parent / "static"


def create_app(settings: NotifierSettings | None = None, run_stream: bool = True) -> FastAPI:
    """`run_stream=False`: API + log tail only (tests drive `app.state.runtime`; a read-only replica)."""
    settings = settings or get_settings()
    configure_logging("notifier", settings.log_level)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if settings.ensure_topics:
            await asyncio.to_thread(ensure_topics, settings.kafka_bootstrap)
        runtime: NotifierRuntime = app.state.runtime
        await runtime.start()
        try:
            async with AsyncExitStack() as stack:
                if run_stream:
                    await stack.enter_async_context(faust_app_running(build_faust_app(runtime)))
                log.info("notifier_started", kafka=settings.kafka_bootstrap, stream=run_stream)
                yield
        finally:
            await runtime.stop()

    app = FastAPI(
        title="CareCircle notifier",
        version="1.0",
        description="Nurse call alerts (inactivity rules, escalation, call queue), member reminders and delivery.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.runtime = NotifierRuntime(settings)
    install_error_handlers(app)
    install_in_flight_gauge(app, "notifier")

    async def ready(request: Request) -> bool:
        return request.app.state.runtime.rebuilt.is_set() and await broker_reachable(settings.kafka_bootstrap)

    app.include_router(health_router(ready))
    app.include_router(alerts.router)
    mount_metrics(app)

    @app.get("/", include_in_schema=False)
    async def console() -> FileResponse:
        return FileResponse(STATIC / "console.html", media_type="text/html")

    return app
