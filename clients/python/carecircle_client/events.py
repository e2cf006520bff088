"""Event bodies as `POST /v1/events` takes them (contracts/events.py in the platform repository).

event_id and occurred_at are fixed here, when the member acts, never at send time: a retry or a
send days later carries the same id (ingest and the metrics count it once) and the true time."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any


def now() -> datetime:
    return datetime.now(timezone.utc)


def event(kind: str, member_id: str, payload: dict[str, Any], occurred_at: datetime | None = None) -> dict[str, Any]:
    when = occurred_at or now()
    if when.tzinfo is None:
        raise ValueError("occurred_at must carry a timezone (an aware datetime)")
    return {"event_id": str(uuid.uuid4()), "type": kind, "member_id": member_id,
            "occurred_at": when.isoformat(), "payload": payload}


def without_none(**fields: Any) -> dict[str, Any]:
    """Optional payload fields are left out rather than sent as null."""
    return {name: value for name, value in fields.items() if value is not None}
