"""FastAPI pieces every service mounts: clean error bodies, health/readiness probes, /metrics."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import APIRouter, FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, generate_latest

from .logging import log
from .process import tune_gc
from .ticks import publish_clock_mode

IN_FLIGHT = Gauge("http_requests_in_flight", "HTTP requests being served", ["service"])
REQUESTS = Counter("http_requests_total", "HTTP responses by status code", ["service", "status"])


def validation_errors(errors: list[dict]) -> list[dict]:
    """Pydantic errors without echoing the input back (it may be large or private)."""
    return [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")} for e in errors]


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": validation_errors(exc.errors())}, status.HTTP_422_UNPROCESSABLE_CONTENT)

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled_error", path=request.url.path, error=repr(exc), exc_info=exc)
        return JSONResponse({"detail": "internal error"}, status.HTTP_500_INTERNAL_SERVER_ERROR)


class RequestTelemetry:
    """Pure ASGI middleware: in-flight requests and responses by status (BaseHTTPMiddleware adds a
    measurable cost per request: bench/results.md, "Probes behind design choices")."""

    def __init__(self, app, service: str) -> None:
        self.app, self.service, self.gauge = app, service, IN_FLIGHT.labels(service)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def counting_send(message) -> None:
            if message["type"] == "http.response.start":
                REQUESTS.labels(self.service, str(message["status"])).inc()
            await send(message)

        with self.gauge.track_inprogress():
            await self.app(scope, receive, counting_send)


def service_app(service: str, settings: object, description: str, lifespan: Callable) -> FastAPI:
    """A service's FastAPI app with the set-up every service shares: its settings on app.state (the
    auth dependencies read the JWT secret there), clean error bodies and the in-flight gauge."""
    app = FastAPI(title=f"CareCircle {service}", version="1.0", description=description, lifespan=lifespan)
    app.state.settings = settings
    install_error_handlers(app)
    install_in_flight_gauge(app, service)
    publish_clock_mode(getattr(settings, "clock_mode", "wall"))  # clock_mode_info: ClockStalled is wall-only
    return app


def install_in_flight_gauge(app: FastAPI, service: str) -> None:
    app.add_middleware(RequestTelemetry, service=service)


def health_router(ready: Callable[[Request], Awaitable[bool]]) -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/healthz", summary="Liveness: the process serves requests")
    async def healthz() -> dict:
        return {"status": "ok"}

    @router.get("/readyz", summary="Readiness: dependencies reachable")
    async def readyz(request: Request) -> JSONResponse:
        if await ready(request):
            return JSONResponse({"status": "ready"})
        return JSONResponse({"status": "not ready"}, status.HTTP_503_SERVICE_UNAVAILABLE)

    return router


def mount_metrics(app: FastAPI) -> None:
    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


def add_components(app: FastAPI, schemas: dict[str, dict]) -> None:
    """Add JSON schemas to the OpenAPI components (for bodies a route parses by hand)."""
    build = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            document = build()
            document.setdefault("components", {}).setdefault("schemas", {}).update(schemas)
        return app.openapi_schema

    app.openapi = openapi


def serve(factory: str, host: str, port: int) -> None:
    """Run a service's app factory ("package.module:create_app") with uvicorn on uvloop + httptools
    (the plain asyncio loop stalled requests under load: bench/results.md, "Probes behind design
    choices"); logs are the service's JSON logs."""
    import uvicorn

    tune_gc()
    uvicorn.run(factory, factory=True, host=host, port=port, loop="uvloop", http="httptools",
                log_config=None, access_log=False)
