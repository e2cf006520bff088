"""The ingest FastAPI application (`create_app` is the factory uvicorn and the tests use)."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager, suppress
from functools import partial

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse

from services.common.kafka import BrokerUnavailable, Publisher, broker_reachable, ensure_topics
from services.common.ratelimit import CallerRateLimit
from services.common.logging import configure_logging, log
from services.common.web import add_components, health_router, mount_metrics, service_app

from .directory import Directory
from .directory_feed import DirectoryFeed
from .routers import admin, events
from .settings import IngestSettings, get_settings
from .telemetry import REQUESTS_REFUSED


def create_app(settings: IngestSettings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging("ingest", settings.log_level)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if settings.ensure_topics:
            await asyncio.to_thread(ensure_topics, settings.kafka_bootstrap)
        prepare = partial(ensure_topics, settings.kafka_bootstrap, timeout_s=2) if settings.ensure_topics else None
        app.state.publisher = await asyncio.to_thread(
            Publisher, settings.kafka_bootstrap, settings.delivery_timeout_ms, "ingest", prepare
        )
        # Kept in this closure too: a second lifespan of the same app (test harnesses) has its own feed.
        feed = app.state.directory_feed = DirectoryFeed(settings.kafka_bootstrap, app.state.directory,
                                                        settings.directory_idle_s)
        feed.start()
        # Serve once the directory is read (seconds), but never hang the start on it: past the wait
        # the requests that need it get 503 until it is ready.
        with suppress(asyncio.TimeoutError):
            await asyncio.wait_for(feed.ready.wait(), settings.directory_startup_wait_s)
        log.info("ingest_started", kafka=settings.kafka_bootstrap, directory_ready=feed.ready.is_set())
        yield
        await feed.stop()
        await asyncio.to_thread(app.state.publisher.close)

    app = service_app("ingest", settings, lifespan=lifespan, body_bytes={"/v1/events": settings.max_body_bytes},
                      description="App clients send logins, posts, check-ins and meditation plays; "
                                  "admins enrol members.")
    app.state.member_rate_limit = CallerRateLimit(settings.member_rate_limit)
    app.state.member_event_limit = CallerRateLimit(settings.member_event_limit)
    app.state.directory = Directory()
    app.state.directory_feed = None
    app.state.member_commands = asyncio.Lock()

    @app.exception_handler(BrokerUnavailable)
    async def _broker_down(_: Request, exc: BrokerUnavailable) -> JSONResponse:
        REQUESTS_REFUSED.labels("503").inc()
        log.warning("broker_unavailable", error=str(exc))
        return JSONResponse(
            {"detail": "event store unavailable; nothing from this request was accepted, retry later"},
            status_code=503,
            headers={"Retry-After": str(settings.retry_after_s)},
        )

    async def ready(_: Request) -> bool:
        feed = app.state.directory_feed
        return feed is not None and feed.ready.is_set() and await broker_reachable(settings.kafka_bootstrap)

    if settings.cors_origin_list():
        # Browser apps on the listed origins only; Retry-After is exposed so a web client can honour it.
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origin_list(), allow_methods=["POST"],
                           allow_headers=["Authorization", "Content-Type"], expose_headers=["Retry-After"],
                           max_age=600)

    app.include_router(health_router(ready))
    app.include_router(events.router)
    app.include_router(admin.router)
    mount_metrics(app)
    add_components(app, events.BODY_COMPONENTS)
    return app
