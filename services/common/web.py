"""FastAPI pieces every service mounts: clean error bodies, health/readiness probes, /metrics."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

from .audit import AuditTrail
from .guard import GuardSettings, RequestGuard
from .logging import log
from .process import tune_gc
from .ticks import publish_clock_mode

IN_FLIGHT = Gauge("http_requests_in_flight", "HTTP requests being served", ["service"])
REQUESTS = Counter("http_requests_total", "HTTP responses by status code", ["service", "status"])
# Labelled by the matched route's template ("/v1/members/{member_id}"), never the raw path: a raw path
# would put member ids into Prometheus and give every client a way to create series without bound.
DURATION = Histogram("http_request_duration_seconds", "Time to serve a request, by route template and method",
                     ["service", "method", "route"])
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED_ROUTE = "unmatched"  # 404s and anything no route claimed


def route_template(scope) -> str:
    """The template of the route Starlette matched for this request (it stores the route in the scope)."""
    route = scope.get("route")
    return getattr(route, "path", None) or UNMATCHED_ROUTE


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
    """Pure ASGI middleware: in-flight requests, responses by status and the duration per route template
    and method (BaseHTTPMiddleware adds a measurable cost per request: bench/results.md, "Probes behind
    design choices")."""

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

        started = time.perf_counter()
        try:
            with self.gauge.track_inprogress():
                await self.app(scope, receive, counting_send)
        finally:
            method = scope.get("method", "")
            DURATION.labels(self.service, method if method in KNOWN_METHODS else "other",
                            route_template(scope)).observe(time.perf_counter() - started)


# Pages load only their own files (no inline code: scripts and styles are served as files), nothing
# may frame them, no URL leaks in a Referer; data answers are never cached (docs/security.md, "Pages").
SECURITY_HEADERS = [
    (b"content-security-policy", b"default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
]
COMMON_STATIC = Path(__file__).parent / "static"
API_DOCS_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc"})


class SecurityHeaders:
    """Pure ASGI middleware: the headers above on every answer, `Cache-Control: no-store` on all but
    static files. With API_DOCS=1 (development) /docs keeps FastAPI's page, which loads Swagger UI from
    its CDN: that page alone goes without the CSP."""

    def __init__(self, app, docs_enabled: bool) -> None:
        self.app, self.docs_enabled = app, docs_enabled

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        static = path.startswith("/static/")
        docs = self.docs_enabled and path in API_DOCS_PATHS

        async def with_headers(message) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in SECURITY_HEADERS if k not in present
                         and not (docs and k == b"content-security-policy")]
                if not static and b"cache-control" not in present:
                    extra.append((b"cache-control", b"no-store"))
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, with_headers)


def _without_api_docs(app: FastAPI) -> None:
    """Production: no /docs or /redoc (their pages load Swagger UI / ReDoc from a CDN); /openapi.json stays."""
    app.router.routes[:] = [r for r in app.router.routes if getattr(r, "path", None) not in API_DOCS_PATHS]


def install_in_flight_gauge(app: FastAPI, service: str, body_bytes: dict[str, int] | None = None) -> None:
    """The request guard (rate limits, token before body, body caps: services.common.guard) inside the
    telemetry, so refused requests are counted too, and security headers on every answer.
    `body_bytes`: routes allowed more than the default."""
    settings = app.state.settings
    app.state.service_name = service  # who writes audit records (services.common.audit)
    if not settings.api_docs:
        _without_api_docs(app)
    app.add_middleware(RequestGuard, settings=GuardSettings(
        default_body_bytes=settings.max_request_body_bytes, body_bytes=body_bytes or {},
        per_address=settings.rate_limit_per_address, refused_per_address=settings.rate_limit_refused_per_address,
        per_member=settings.rate_limit_per_member))
    # the staff pages' shared token script, before any app-level "/static" mount so it matches first
    app.mount("/static/common", StaticFiles(directory=COMMON_STATIC), name="common-static")
    app.add_middleware(RequestTelemetry, service=service)
    app.add_middleware(SecurityHeaders, docs_enabled=settings.api_docs)


def closing_the_audit_trail(lifespan: Callable) -> Callable:
    """`lifespan`, then the audit trail's producer closed (it is opened by the first audited read).
    Left open, its connection outlived the app: a broker stopping after it waited for that client."""

    @asynccontextmanager
    async def wrapped(app: FastAPI) -> AsyncIterator[object]:
        try:
            async with lifespan(app) as state:
                yield state
        finally:
            trail: AuditTrail | None = getattr(app.state, "audit_trail", None)
            if trail is not None:
                await trail.close()

    return wrapped


def service_app(service: str, settings: object, description: str, lifespan: Callable,
                body_bytes: dict[str, int] | None = None, api_version: str = "1.0") -> FastAPI:
    """A service's FastAPI app with the set-up every service shares: its settings on app.state (the
    auth dependencies read the token keys there), clean error bodies, the in-flight gauge, the request
    guard and security headers. `body_bytes`: routes allowed a larger body than the default.
    `api_version`: the published contract's version; a breaking change raises its major number
    (contracts/compat.py, docs/clients.md)."""
    app = FastAPI(title=f"CareCircle {service}", version=api_version, description=description,
                  lifespan=closing_the_audit_trail(lifespan))
    app.state.settings = settings
    install_error_handlers(app)
    install_in_flight_gauge(app, service, body_bytes)
    publish_clock_mode(getattr(settings, "clock_mode", "wall"))  # clock_mode_info: ClockStalled is wall-only
    return app


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
    choices"); logs are the service's JSON logs. A request head must be complete within
    HTTP_HEAD_TIMEOUT_S; beyond HTTP_MAX_CONCURRENCY connections and requests at once, uvicorn answers 503."""
    import uvicorn

    from .http_server import head_timeout_protocol
    from .settings import ServerSettings

    tune_gc()
    server = ServerSettings()
    uvicorn.run(factory, factory=True, host=host, port=port, loop="uvloop",
                http=head_timeout_protocol(server.http_head_timeout_s),
                limit_concurrency=server.http_max_concurrency, log_config=None, access_log=False)
