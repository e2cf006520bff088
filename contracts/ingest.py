"""Response bodies of the ingest API."""

from __future__ import annotations

from pydantic import BaseModel, Field


class FieldError(BaseModel):
    loc: list[str | int] = Field(description="Path of the offending field inside the event")
    msg: str
    type: str


class RejectedEvent(BaseModel):
    index: int = Field(description="Position of the event in the request (0 for a single object)")
    errors: list[FieldError]


class IngestResult(BaseModel):
    accepted: int = Field(description="Events acknowledged by the broker (acks=all)")
    rejected: list[RejectedEvent] = Field(default_factory=list)
