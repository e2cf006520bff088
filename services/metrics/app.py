"""The metrics FastAPI application. Its lifespan opens ClickHouse (chDB: one process, it locks its
directory) and, unless disabled, runs the ClickHouse sink and the faust member-day agents.

With `METRICS_RUN_SINK=false` and `METRICS_RUN_STREAM=false` the process only serves the API and the
dashboard (the scaled `metrics` Deployment): it never touches Kafka, never writes to ClickHouse (the
schema is the writer's — the process running the sink — to migrate) and is ready once ClickHouse answers
with every migration this code knows applied.

With `METRICS_RUN_STREAM=true` and `METRICS_RUN_SINK=false` the process is one worker of the member-day
stream (the scaled `metrics-stream` Deployment, docs/scale.md): it never opens ClickHouse and serves no
metrics API, only /healthz, /readyz (the broker answers) and /metrics."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from services.common.kafka import broker_reachable, ensure_topics
from services.common.logging import configure_logging, log, scrub
from services.common.web import health_router, mount_metrics, service_app

from . import telemetry  # noqa: F401  (registers the stream series)
from .answers import Answers
from .clickhouse import ClickHouse, ClickHouseError, connect
from .rollup import Rollup
from .routers import api, audit, export, overview, qol
from .rows import CONVERTERS
from .schema import MIGRATIONS, TABLE_SCHEMAS, migrate
from .settings import MetricsSettings, get_settings
from .sink import Sink

STATIC = Path(__file__).parent / "static"


async def schema_current(ch: ClickHouse | None, timeout_s: float = 2.0) -> bool:
    """True when ClickHouse answers (within `timeout_s`) and holds every migration of `schema.MIGRATIONS`."""
    if ch is None:
        return False
    try:
        rows = await asyncio.wait_for(asyncio.to_thread(ch.query, "SELECT version FROM schema_migrations FINAL"),
                                      timeout_s)
    except (ClickHouseError, asyncio.TimeoutError):
        return False
    return {version for version, *_ in MIGRATIONS} <= {row["version"] for row in rows}


@asynccontextmanager
async def _stream_running(app: FastAPI, settings: MetricsSettings):
    """The faust member-day agents (stream.py), started and stopped with the process."""
    from services.common.stream import faust_app_running

    from .stream import build_faust_app, close_publisher
    faust_app = build_faust_app(settings)
    app.state.faust = faust_app
    try:
        try:
            async with faust_app_running(faust_app):
                if not settings.run_sink:
                    log.info("metrics_stream_started", kafka=settings.kafka_bootstrap, group=settings.group_id)
                try:
                    yield
                finally:
                    await faust_app.snapshots.final()  # docs/scale.md, "Snapshots and restarts"
        finally:
            await faust_app.snapshots.close()
    finally:
        await close_publisher(faust_app)


def create_app(settings: MetricsSettings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging("metrics", settings.log_level)

    uses_kafka = settings.run_sink or settings.run_stream
    stream_only = settings.run_stream and not settings.run_sink

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if settings.ensure_topics and uses_kafka:
            await asyncio.to_thread(ensure_topics, settings.kafka_bootstrap)
        if stream_only:
            async with _stream_running(app, settings):
                yield
            return
        ch = await asyncio.to_thread(connect, settings.clickhouse_url, settings.clickhouse_replicated)
        applied = await asyncio.to_thread(migrate, ch) if settings.run_sink else []  # the writer owns the schema
        app.state.ch = ch
        app.state.answers = Answers(ch)
        sink = Sink(ch, settings.kafka_bootstrap, CONVERTERS, TABLE_SCHEMAS, settings.sink_batch_max,
                    settings.sink_poll_ms, settings.sink_retry_max_s, settings.clock_mode)
        app.state.sink = sink
        try:
            async with AsyncExitStack() as stack:
                if settings.run_sink:
                    await sink.start()
                    stack.push_async_callback(sink.stop)
                    rollup = Rollup(ch, sink, settings.rollup_interval_s)
                    await rollup.start()
                    stack.push_async_callback(rollup.stop)
                if settings.run_stream:
                    await stack.enter_async_context(_stream_running(app, settings))
                log.info("metrics_started", kafka=settings.kafka_bootstrap, clickhouse=scrub(settings.clickhouse_url),
                         migrations_applied=applied)
                yield
        finally:
            await asyncio.to_thread(ch.close)

    app = service_app("metrics", settings, lifespan=lifespan,
                      description="Daily feasibility metrics (login, participation, completion) from the event log.")

    @app.exception_handler(ClickHouseError)
    async def _clickhouse_down(_: Request, exc: ClickHouseError):
        from fastapi.responses import JSONResponse
        log.warning("clickhouse_error", error=str(exc)[:500])
        return JSONResponse({"detail": "metrics store unavailable, retry later"}, 503, headers={"Retry-After": "5"})

    async def ready(request: Request) -> bool:
        if stream_only:
            return await broker_reachable(settings.kafka_bootstrap)
        if settings.run_sink:
            sink = getattr(request.app.state, "sink", None)
            if not (sink and sink.caught_up.is_set()):
                return False
        elif not await schema_current(getattr(request.app.state, "ch", None)):
            return False  # API only: what it reads is there once the writer has migrated
        return not uses_kafka or await broker_reachable(settings.kafka_bootstrap)

    app.include_router(health_router(ready))
    mount_metrics(app)
    if stream_only:
        return app
    app.include_router(overview.router)
    app.include_router(api.router)
    app.include_router(qol.router)
    app.include_router(audit.router)
    app.include_router(export.router)

    @app.get("/", include_in_schema=False)
    async def dashboard() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app
