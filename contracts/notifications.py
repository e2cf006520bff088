"""`notifications.outbound`: messages any service asks the notifier to deliver, and their outcomes.

Producers (notifier's own rules, survey schedule) publish `notification.requested`; the notifier
delivers it (push-gateway webhook, e-mail, staff webhook) and records `notification.delivered` or
`notification.failed` (then a `dead_letter` on `notifications.dlq`). A reminder whose moment the clock
passed by more than the grace window is recorded as `notification.skipped` instead of being sent late
(docs/clock.md). `dedup_key` makes delivery
at-most-once per logical message (e.g. "reminder|m-1|2026-11-02|08:00"), including across restarts.

An operator replays a dead letter (`python -m services.common.dlq replay`) by writing
`notification.replayed`: the notifier delivers its request again despite the earlier outcome for the
dedup_key, once per replay (its event_id derives from the dead letter's) and never after a delivery.
The outcome of a replayed delivery names the replay in `replay_of`.
"""

from __future__ import annotations

from typing import Literal
from uuid import UUID, uuid5

from pydantic import Field

from .common import CohortId, EventId, MemberId, StrictModel, Timestamp

NotificationKind = Literal[
    "reminder", "survey_invitation", "survey_reminder", "alert_raised", "alert_escalated",
]
Channel = Literal["push", "email", "webhook"]
REPLAY_NAMESPACE = UUID("0f3e1c5a-7d2b-5e49-8a6c-3b9d4f1e2a70")


def replay_id(dead_letter_id: UUID) -> UUID:
    """The event_id of the replay of a dead letter: the same for every run, so replays are idempotent."""
    return uuid5(REPLAY_NAMESPACE, str(dead_letter_id))


class NotificationRequested(StrictModel):
    type: Literal["notification.requested"] = "notification.requested"
    event_id: EventId
    dedup_key: str = Field(min_length=1, max_length=200, description="Same key = same message: delivered once")
    kind: NotificationKind
    channel: Channel
    recipient: MemberId = Field(description="Member or staff id the message is for")
    cohort: CohortId
    title: str = Field(max_length=200)
    body: str = Field(max_length=2000, description="Generated text only; never member free text")
    data: dict[str, str] = Field(default_factory=dict, max_length=20, description="Deep-link parameters")
    occurred_at: Timestamp = Field(description="Simulated time (clock.tick) at which it was requested")


class NotificationDelivered(StrictModel):
    type: Literal["notification.delivered"] = "notification.delivered"
    event_id: EventId
    dedup_key: str
    channel: Channel
    recipient: MemberId
    attempts: int = Field(ge=1)
    occurred_at: Timestamp
    replay_of: EventId | None = Field(default=None, description="The notification.replayed this outcome answers")


class NotificationFailed(StrictModel):
    type: Literal["notification.failed"] = "notification.failed"
    event_id: EventId
    dedup_key: str
    channel: Channel
    recipient: MemberId
    attempts: int = Field(ge=1)
    reason: str = Field(max_length=500)
    occurred_at: Timestamp
    replay_of: EventId | None = Field(default=None, description="The notification.replayed this outcome answers")


SkipReason = Literal["past_grace", "superseded"]


class NotificationSkipped(StrictModel):
    """A reminder slot not sent: its moment passed by more than the grace window before a tick was
    applied (`past_grace`: the clock or the notifier was down), or a later slot of the same day is due
    at the same tick (`superseded`). Never sent afterwards; one record per dedup_key."""

    type: Literal["notification.skipped"] = "notification.skipped"
    event_id: EventId
    dedup_key: str = Field(min_length=1, max_length=200, description="The reminder's key (reminder|member|day|HH:MM)")
    kind: NotificationKind
    recipient: MemberId
    cohort: CohortId
    due_at: Timestamp = Field(description="The slot's moment in the member's time zone")
    reason: SkipReason
    occurred_at: Timestamp = Field(description="The applied clock.tick at which the slot was judged")


class NotificationDeadLetter(StrictModel):
    """A `notifications.dlq` record: the request that could not be delivered after the last try."""

    type: Literal["dead_letter"] = "dead_letter"
    event_id: EventId
    dedup_key: str
    reason: str = Field(max_length=500)
    attempts: int = Field(ge=1)
    request: NotificationRequested
    occurred_at: Timestamp


class NotificationReplayed(StrictModel):
    """An operator's replay of a `notifications.dlq` record: deliver `request` once more."""

    type: Literal["notification.replayed"] = "notification.replayed"
    event_id: EventId = Field(description="uuid5 of the dead letter's event_id: replaying it twice is one replay")
    dead_letter_id: EventId = Field(description="event_id of the dead letter being replayed")
    dedup_key: str = Field(min_length=1, max_length=200)
    request: NotificationRequested
    replayed_by: str = Field(min_length=1, max_length=100, description="Operator who ran the replay")
    occurred_at: Timestamp = Field(description="Wall time of the replay")
