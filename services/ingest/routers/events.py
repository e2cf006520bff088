"""`POST /v1/events`: one event or a batch of 1–500; per-index errors; 202 only after acks=all."""

from __future__ import annotations

import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, HTTPException, Request, status
from pydantic import AwareDatetime, TypeAdapter

from contracts.events import ClientEvent, client_event_errors
from contracts.ingest import IngestResult, RejectedEvent
from contracts.topics import ENGAGEMENT_EVENTS
from services.common.auth import Principal
from services.common.kafka import Publisher, Record
from services.common.web import validation_errors

from ..deps import event_sender, get_app_settings, get_directory, get_publisher
from ..directory import Directory
from ..settings import IngestSettings
from ..telemetry import ACCEPTED, PRODUCE_SECONDS, REJECTED

router = APIRouter(tags=["events"])

# The body is parsed by hand (per-index errors), so its schema is declared for the OpenAPI docs here;
# BODY_COMPONENTS goes into the document's components (see services.common.web.add_components).
_BODY_SCHEMA = TypeAdapter(ClientEvent | list[ClientEvent]).json_schema(ref_template="#/components/schemas/{model}")
BODY_COMPONENTS = _BODY_SCHEMA.pop("$defs")


async def read_limited_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, detail=f"body larger than {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, detail=f"body larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_batch(body: bytes, max_batch: int) -> tuple[list[Any], bool]:
    """The decoded items and whether the body was an array."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=f"malformed JSON: {exc}") from None
    is_array = isinstance(data, list)
    items = data if is_array else [data]
    if not 1 <= len(items) <= max_batch:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=f"send 1 to {max_batch} events")
    return items, is_array


def check_members(principal: Principal, items: list[Any]) -> None:
    """A member may only send their own events; one forged event refuses the whole request."""
    if principal.role == "admin":
        return
    for index, item in enumerate(items):
        if not isinstance(item, dict) or item.get("member_id", principal.subject) != principal.subject:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, detail=f"event {index}: member_id is not the token's subject"
            )


NOT_ENROLLED = "not_enrolled"


def refuse_by_state(directory: Directory, items: list[Any], errors: dict[int, list[dict]], max_age: timedelta) -> None:
    """Add the refusals that depend on what ingest knows (members enrolled, the latest tick) to the
    schema errors of the otherwise valid items."""
    for index, item in enumerate(items):
        if index in errors:
            continue
        problem = directory.event_problem(item["member_id"], _timestamp(item["occurred_at"]), max_age)
        if problem is not None:
            field, kind, message = problem
            errors[index] = [{"loc": (field,), "msg": message, "type": kind}]


def _timestamp(text: str) -> datetime:
    """A valid item's occurred_at (already checked by the contract's strict validation)."""
    try:
        return datetime.fromisoformat(text)
    except ValueError:  # a form pydantic accepts but fromisoformat does not
        return _TIMESTAMP.validate_python(text)


_TIMESTAMP = TypeAdapter(AwareDatetime)


@router.post(
    "/v1/events",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=IngestResult,
    summary="Send one client event or a JSON array of 1-500",
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": _BODY_SCHEMA}}}},
    responses={400: {"description": "Malformed JSON"}, 401: {}, 403: {}, 413: {"description": "Body over 1 MiB"},
               422: {"description": "No valid event"},
               429: {"description": "Member rate limit (requests, or 5,000 events an hour); see Retry-After"},
               503: {"description": "Broker unreachable or member directory loading; retry"}},
)
async def post_events(
    request: Request,
    principal: Annotated[Principal, Depends(event_sender)],
    settings: Annotated[IngestSettings, Depends(get_app_settings)],
    publisher: Annotated[Publisher, Depends(get_publisher)],
    directory: Annotated[Directory, Depends(get_directory)],
) -> IngestResult:
    body = await read_limited_body(request, settings.max_body_bytes)
    items, is_array = parse_batch(body, settings.max_batch)
    check_members(principal, items)
    errors = client_event_errors(body, items, is_array)
    refuse_by_state(directory, items, errors, timedelta(days=settings.max_event_age_days))
    rejected = [RejectedEvent(index=i, errors=validation_errors(errors[i])) for i in sorted(errors)]
    for event_errors in errors.values():
        REJECTED.labels(event_errors[0]["type"]).inc()
    valid = [item for index, item in enumerate(items) if index not in errors]
    if not valid:
        if all(e[0]["type"] != NOT_ENROLLED for e in errors.values()):
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=[r.model_dump() for r in rejected])
        return IngestResult(accepted=0, rejected=rejected)  # not enrolled yet: retryable, not invalid
    if principal.role == "member":  # counted in events: a 500-event request is 500 towards the limit
        request.app.state.member_event_limit.check(principal.subject, cost=len(valid))
    # A valid item's JSON is exactly the typed event (strict validation): store it as sent, stamped.
    received_at = datetime.now(timezone.utc).isoformat()
    records = [
        Record(ENGAGEMENT_EVENTS.name, item["member_id"].encode(), orjson.dumps({**item, "received_at": received_at}))
        for item in valid
    ]
    started = time.perf_counter()
    await publisher.publish(records)
    PRODUCE_SECONDS.observe(time.perf_counter() - started)
    for event_type, count in Counter(item["type"] for item in valid).items():
        ACCEPTED.labels(event_type).inc(count)
    return IngestResult(accepted=len(valid), rejected=rejected)
