"""The FastAPI app of a service that keeps its state in its own topics (notifier, survey).

Both are built the same way: JSON logs, the set-up every service shares (`web.service_app`), the
runtime on `app.state.runtime`, a lifespan that rebuilds the state from the log and then runs the
faust agents (`stream.runtime_and_stream`), `/readyz` answering 200 only once the state is rebuilt,
the service's routers and `/metrics`. What differs (routers, the nurse console's pages, extra OpenAPI
components) stays in the service's own `app.py`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import faust
from fastapi import APIRouter, FastAPI

from .logging import configure_logging
from .logstate import LogStateRuntime, ready_when_rebuilt
from .settings import CommonSettings
from .stream import runtime_and_stream
from .web import health_router, mount_metrics, service_app


def log_state_app(service: str, settings: CommonSettings, make_runtime: Callable[[Any], LogStateRuntime],
                  build_faust_app: Callable[[Any], faust.App], run_stream: bool, description: str,
                  routers: Sequence[APIRouter]) -> FastAPI:
    """`run_stream=False`: the API and the log tail only (an API-only replica; tests that drive the runtime)."""
    configure_logging(service, settings.log_level)

    def lifespan(app: FastAPI):
        return runtime_and_stream(service, settings, app.state.runtime, build_faust_app, run_stream)

    app = service_app(service, settings, lifespan=lifespan, description=description)
    app.state.runtime = make_runtime(settings)
    app.include_router(health_router(ready_when_rebuilt(settings.kafka_bootstrap)))
    for router in routers:
        app.include_router(router)
    mount_metrics(app)
    return app
