"""The real ingest app served over real HTTP (uvicorn in a thread) behind a gate that can answer a
planned 503/429 instead of forwarding, and that records every `POST /v1/events` body it saw."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import uvicorn

from services.common.broker import free_port
from services.ingest.app import create_app
from services.ingest.settings import IngestSettings


@dataclass
class Fault:
    status: int
    retry_after: int | None = None
    after_ingest: bool = False  # ingest takes the request, then the answer is lost and a fault is sent


@dataclass
class Gate:
    """ASGI wrapper: `faults[n]` answers the n-th events request (0-based) instead of ingest."""
    app: object
    faults: dict[int, Fault] = field(default_factory=dict)
    bodies: list[bytes] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    files: dict[str, Path] = field(default_factory=dict)  # URL path → file, served as is (the browser test)

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["path"] in self.files:
            path = self.files[scope["path"]]
            kind = b"text/javascript" if path.suffix == ".js" else b"text/html"
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", kind)]})
            return await send({"type": "http.response.body", "body": path.read_bytes()})
        if scope["type"] != "http" or scope["path"] != "/v1/events":
            return await self.app(scope, receive, send)
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        number = len(self.bodies)
        self.bodies.append(body)
        fault = self.faults.get(number)
        if fault is not None and fault.after_ingest:
            await self._forward(scope, body, receive, self._discard)
        if fault is not None:
            self.statuses.append(fault.status)
            headers = [(b"content-type", b"application/json")]
            if fault.retry_after is not None:
                headers.append((b"retry-after", str(fault.retry_after).encode()))
            await send({"type": "http.response.start", "status": fault.status, "headers": headers})
            return await send({"type": "http.response.body", "body": b'{"detail":"planned fault"}'})

        await self._forward(scope, body, receive, send)

    @staticmethod
    async def _discard(message) -> None:
        return None

    async def _forward(self, scope, body, receive, send):
        replayed = False

        async def replay():
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def record(message):
            if message["type"] == "http.response.start":
                self.statuses.append(message["status"])
            await send(message)

        await self.app(scope, replay, record)


class LiveIngest:
    def __init__(self, bootstrap: str, jwt_secret: str, **overrides) -> None:
        self.gate = Gate(create_app(IngestSettings(kafka_bootstrap=bootstrap, jwt_secret=jwt_secret, **overrides)))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server = uvicorn.Server(uvicorn.Config(self.gate, host="127.0.0.1", port=self.port, log_config=None,
                                                     lifespan="on", access_log=False))
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def __enter__(self) -> "LiveIngest":
        self._thread.start()
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{self.url}/readyz").status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "ingest never became ready"
            time.sleep(0.1)

    def __exit__(self, *exc_info) -> None:
        self._server.should_exit = True
        self._thread.join(30)

    def enrol(self, admin_token: str, *members: str) -> None:
        for member in members:
            response = httpx.post(f"{self.url}/v1/enrollments", headers={"Authorization": f"Bearer {admin_token}"},
                                  json={"member_id": member, "cohort": "c-client", "timezone": "UTC",
                                        "enrolled_on": "2026-11-01"})
            assert response.status_code == 202, response.text
