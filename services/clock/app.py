"""The clock process's FastAPI app: /healthz, /readyz, /metrics, and the ticker in the lifespan.

In `simulated` mode it writes nothing (only POST /v1/admin/clock moves time) and says so at start."""

from __future__ import annotations

import asyncio
import time
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request

from services.common.kafka import ensure_topics
from services.common.logging import configure_logging, log
from services.common.tasks import cancel_and_wait
from services.common.ticks import publish_clock_mode
from services.common.web import (
    health_router,
    install_error_handlers,
    install_in_flight_gauge,
    mount_metrics,
)

from .settings import ClockSettings, get_settings
from .ticker import Ticker


def create_app(settings: ClockSettings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging("clock", settings.log_level)
    publish_clock_mode(settings.clock_mode)
    ticker = Ticker(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        task = None
        if settings.clock_mode == "wall":
            if settings.ensure_topics:
                await asyncio.to_thread(ensure_topics, settings.kafka_bootstrap)
            task = asyncio.create_task(ticker.run(), name="clock-ticker")
            log.info("clock_started", mode="wall", period_s=settings.clock_tick_seconds)
        else:
            log.info("clock_idle", mode=settings.clock_mode, why="only POST /v1/admin/clock moves simulated time")
        yield
        await cancel_and_wait(task)
        await asyncio.to_thread(ticker.close)

    app = FastAPI(title="CareCircle clock", version="1.0", lifespan=lifespan,
                  description="Writes one clock.tick per period to every partition of clock.ticks (wall mode).")
    app.state.settings, app.state.ticker = settings, ticker
    install_error_handlers(app)
    install_in_flight_gauge(app, "clock")

    async def ready(_: Request) -> bool:
        # Ready once the latest period (or the one before: the write may be under way) is on the log.
        if settings.clock_mode != "wall":
            return True
        last = ticker.last_written
        return last is not None and time.time() - last.timestamp() < 2 * settings.clock_tick_seconds + 5

    app.include_router(health_router(ready))
    mount_metrics(app)
    return app
