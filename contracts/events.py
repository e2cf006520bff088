"""Client events (v1): what the app sends to `POST /v1/events` and what lands on `engagement.events`.

No free text: posts carry the channel and an optional topic tag, never the message.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, Union

from pydantic import Field, TypeAdapter, ValidationInfo, model_validator

from .common import EventId, MemberId, ShortName, ShortText, StrictModel, Timestamp, check_plausible_time

CLIENT_CONTEXT = {"source": "client"}
"""Pass as validation context for data coming from an app: server-only fields are then refused."""


class LoginPayload(StrictModel):
    pass


class PostPayload(StrictModel):
    channel: Literal["community", "chat_room", "buddy"]
    topic: ShortText | None = Field(default=None, description="Optional topic tag (no message text)")


class CheckinPayload(StrictModel):
    task: ShortName = Field(description="Scheduled task done, e.g. meal, exercise, meditation")
    steps: int | None = Field(default=None, ge=0, le=200_000)


class MeditationPlayPayload(StrictModel):
    content_id: ShortText
    seconds: int = Field(ge=0, le=86_400)
    completed: bool


class _ClientEvent(StrictModel):
    event_id: EventId
    member_id: MemberId
    occurred_at: Timestamp
    received_at: Timestamp | None = Field(
        default=None, json_schema_extra={"readOnly": True}, description="Set by the ingest service"
    )

    @model_validator(mode="after")
    def _plausible_times(self, info: ValidationInfo) -> "_ClientEvent":
        if info.context and info.context.get("source") == "client" and self.received_at is not None:
            raise ValueError("received_at is set by the server, not by clients")
        check_plausible_time(self.occurred_at, self.received_at)
        return self

    def stamped(self, received_at: datetime) -> "_ClientEvent":
        return self.model_copy(update={"received_at": received_at})


class Login(_ClientEvent):
    type: Literal["login"]
    payload: LoginPayload = Field(default_factory=LoginPayload)


class Post(_ClientEvent):
    type: Literal["post"]
    payload: PostPayload


class Checkin(_ClientEvent):
    type: Literal["checkin"]
    payload: CheckinPayload


class MeditationPlay(_ClientEvent):
    type: Literal["meditation_play"]
    payload: MeditationPlayPayload


ClientEvent = Annotated[Union[Login, Post, Checkin, MeditationPlay], Field(discriminator="type")]
CLIENT_EVENT_TYPES = ("login", "post", "checkin", "meditation_play")
client_event_adapter: TypeAdapter[Any] = TypeAdapter(ClientEvent)


def parse_client_event(data: Any) -> Login | Post | Checkin | MeditationPlay:
    """Validate one event as sent by an app (server-only fields refused)."""
    return client_event_adapter.validate_python(data, context=CLIENT_CONTEXT)


def parse_recorded_event(raw: bytes | str) -> Login | Post | Checkin | MeditationPlay:
    """Validate one record read back from `engagement.events`."""
    return client_event_adapter.validate_json(raw)
