"""One request guard for every service (docs/security.md, "Hostile clients"), a pure ASGI middleware:

1. rate limits per client address (every request) and, stricter, per address for refused tokens
   (a 401 flood gets 429s), then per member token. The address is the peer's, or the one a trusted
   proxy forwards (uvicorn reads FORWARDED_ALLOW_IPS: set it to the ingress controllers' addresses);
2. the token is checked *before* a body is read: a request with a body and no valid token gets 401
   without one byte of the body being read;
3. the body is capped before anything parses it: by its declared length, and while it streams in
   (per route: small by default, larger for routes that take batches).

Answers are small JSON bodies; nothing from the request is echoed back."""

from __future__ import annotations

from dataclasses import dataclass, field

import orjson
from fastapi import HTTPException, Request

from .auth import principal_from_header
from .ratelimit import CallerRateLimit

BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True)
class GuardSettings:
    default_body_bytes: int = 64 * 1024
    body_bytes: dict[str, int] = field(default_factory=dict)  # path → cap, for routes that take more
    per_address: str = "1000/second;20000/minute"
    refused_per_address: str = "10/second;100/minute"  # 401s from one address
    per_member: str = "50/second;2000/minute"


class RequestGuard:
    def __init__(self, app, settings: GuardSettings = GuardSettings()) -> None:
        self.app, self.settings = app, settings
        self.by_address = CallerRateLimit(settings.per_address)
        self.refused_by_address = CallerRateLimit(settings.refused_per_address)
        self.by_member = CallerRateLimit(settings.per_member)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            receive = await self._admit(scope, receive)
        except HTTPException as refusal:
            await _answer(send, refusal)
            return
        await self.app(scope, receive, send)

    async def _admit(self, scope, receive):
        address = (scope.get("client") or ("unknown", 0))[0]
        self.by_address.check(address)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        authorization = headers.get("authorization")
        has_body = scope["method"] in BODY_METHODS
        if authorization is not None or has_body:
            try:
                principal = principal_from_header(Request(scope), authorization)
            except HTTPException as exc:
                # A flood of bad tokens from one address turns into 429s; valid tokens from the same address
                # (clients behind one NAT or proxy) are still served.
                if exc.status_code == 401:
                    self.refused_by_address.check(address)
                if has_body:  # GETs go on: the route decides whether it needs a token at all
                    raise
            else:
                if principal.role == "member":
                    self.by_member.check(principal.subject)
        if not has_body:
            return receive
        limit = self.settings.body_bytes.get(scope["path"], self.settings.default_body_bytes)
        return await _capped_body(receive, headers.get("content-length"), limit)


def _too_large(limit: int) -> HTTPException:
    return HTTPException(413, detail=f"request body larger than {limit} bytes")


async def _capped_body(receive, declared: str | None, limit: int):
    """Read the body up to `limit` bytes (413 beyond, before anything parses it) and replay it."""
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise _too_large(limit) if declared.isdigit() else HTTPException(400, detail="invalid content-length")
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        size += len(message.get("body", b""))
        if size > limit:
            raise _too_large(limit)
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body, replayed = b"".join(chunks), False

    async def replay():
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _answer(send, refusal: HTTPException) -> None:
    headers = [(b"content-type", b"application/json"), (b"cache-control", b"no-store"),
               *((k.lower().encode(), v.encode()) for k, v in (refusal.headers or {}).items())]
    await send({"type": "http.response.start", "status": refusal.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": orjson.dumps({"detail": refusal.detail})})
