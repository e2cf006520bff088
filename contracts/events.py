"""Client events (v1): what the app sends to `POST /v1/events` and what lands on `engagement.events`.

No free text: posts carry the channel and an optional topic tag, never the message.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, Union

from pydantic import Field, TypeAdapter, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from .common import EventId, MemberId, ShortName, ShortText, StrictModel, Timestamp, check_plausible_time

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
    def _plausible_times(self) -> "_ClientEvent":
        try:
            check_plausible_time(self.occurred_at, self.received_at)
        except ValueError as exc:  # reported at occurred_at (the field a client must fix), not at the event
            error = InitErrorDetails(type=PydanticCustomError("value_error", str(exc)), loc=("occurred_at",),
                                     input=self.occurred_at.isoformat())
            raise ValidationError.from_exception_data(type(self).__name__, [error]) from None
        return self


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


_SERVER_ONLY = PydanticCustomError("server_only", "received_at is set by the server, not by clients")


def parse_client_event(data: Any, received_at: datetime | None = None) -> Login | Post | Checkin | MeditationPlay:
    """Validate one event as sent by an app and stamp it with the server's receipt time.

    A client may not set `received_at`; occurred_at may be at most 10 minutes after receipt."""
    if isinstance(data, dict):
        if "received_at" in data:
            error = InitErrorDetails(type=_SERVER_ONLY, loc=("received_at",), input=data["received_at"])
            raise ValidationError.from_exception_data("ClientEvent", [error])
        if received_at is not None:
            data = {**data, "received_at": received_at}
    return client_event_adapter.validate_python(data)


client_batch_adapter: TypeAdapter[Any] = TypeAdapter(list[ClientEvent])


def client_event_errors(body: bytes, items: list[Any], is_array: bool) -> dict[int, list[dict]]:
    """Validate a request body of client events in one pass; the errors of each invalid index.

    Strict JSON validation: wrong types are refused, not coerced ("5400" is not a step count), so
    a valid item's JSON is exactly the typed event and can be stored as sent (plus received_at).
    `items` is the same body already decoded (for the server-only field check)."""
    errors: dict[int, list[dict]] = {}
    for index, item in enumerate(items):
        if isinstance(item, dict) and "received_at" in item:
            errors[index] = [{"loc": ("received_at",), "msg": "received_at is set by the server, not by clients",
                              "type": "server_only"}]
    try:
        if is_array:
            client_batch_adapter.validate_json(body, strict=True)
        else:
            client_event_adapter.validate_json(body, strict=True)
    except ValidationError as exc:
        for error in exc.errors(include_url=False, include_input=False):
            loc = error["loc"]
            if is_array and loc and isinstance(loc[0], int):
                errors.setdefault(loc[0], []).append({**error, "loc": loc[1:]})
            else:  # the body as a whole (or a single object) is invalid
                for index in range(len(items)) if is_array else (0,):
                    errors.setdefault(index, []).append(error)
    return errors


def parse_recorded_event(raw: bytes | str) -> Login | Post | Checkin | MeditationPlay:
    """Validate one record read back from `engagement.events`."""
    return client_event_adapter.validate_json(raw)
