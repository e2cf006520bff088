"""Dead letters as an operator sees them, and the replay plan (pure: no I/O, no clock reads).

A view carries the pseudonymous member id, the reason and where the record sits, never the message
title/body/data or a client event's payload: those are health data and stay on the topic. A replay
plan skips letters that were replayed already (a `notification.replayed` naming them is on
`notifications.outbound`) or whose message was delivered since, so running `replay` twice sends nothing
the second time; the notifier enforces the same rule (services.notifier.rules.delivery_due).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal
from uuid import UUID

import orjson
from pydantic import ValidationError

from contracts.daily import EventDeadLetter
from contracts.notifications import NotificationDeadLetter, NotificationReplayed, replay_id
from contracts.topics import ENGAGEMENT_EVENTS_DLQ, NOTIFICATIONS_DLQ

REPLAYABLE = NOTIFICATIONS_DLQ.name
WHY_NOT_REPLAYABLE = {
    ENGAGEMENT_EVENTS_DLQ.name: "events of a member not enrolled yet are applied by the metrics service as soon as "
                                "the enrolment arrives; there is nothing to replay (enrol the member instead)",
}
Action = Literal["replay", "already replayed", "delivered since", "not replayable"]


@dataclass(frozen=True)
class Letter:
    topic: str
    partition: int
    offset: int
    event_id: UUID | None
    member: str            # pseudonymous member id (or staff id for staff notices)
    reason: str
    attempts: int | None
    at: datetime | None
    kind: str              # notification kind or client event type
    channel: str | None = None
    dedup_key: str | None = None
    readable: bool = True
    record: NotificationDeadLetter | None = field(default=None, repr=False, compare=False)  # for replay only

    @property
    def where(self) -> str:
        return f"{self.topic}/{self.partition}/{self.offset}"

    def summary(self) -> dict[str, str]:
        """What may be printed: ids, reason and counts; never the message text or event payload."""
        return {
            "where": self.where, "id": str(self.event_id or "-"), "member": self.member or "-",
            "kind": self.kind, "channel": self.channel or "-", "attempts": "-" if self.attempts is None else str(self.attempts),
            "at": self.at.isoformat() if self.at else "-", "reason": self.reason,
        }


def parse(topic: str, partition: int, offset: int, key: bytes | None, value: bytes | None) -> Letter:
    """A dead letter read from `topic`; an unreadable record becomes a letter that says so (never raises)."""
    member = key.decode("utf-8", "replace") if key else ""
    try:
        if topic == NOTIFICATIONS_DLQ.name:
            dead = NotificationDeadLetter.model_validate_json(value or b"")
            return Letter(topic, partition, offset, dead.event_id, dead.request.recipient, dead.reason, dead.attempts,
                          dead.occurred_at, dead.request.kind, dead.request.channel, dead.dedup_key, record=dead)
        if topic == ENGAGEMENT_EVENTS_DLQ.name:
            event = EventDeadLetter.model_validate_json(value or b"")
            return Letter(topic, partition, offset, event.event_id, event.member_id, event.reason, None,
                          event.dead_lettered_at, str(event.event.get("type", "?")))
    except (ValidationError, ValueError):
        pass
    return Letter(topic, partition, offset, None, member, "unreadable record (not a known dead-letter contract)",
                  None, None, "?", readable=False)


@dataclass
class OutboundHistory:
    """What `notifications.outbound` says about earlier replays and deliveries."""

    replayed: set[UUID] = field(default_factory=set)    # dead-letter ids a replay was written for
    delivered: set[str] = field(default_factory=set)    # dedup keys delivered

    def fold(self, value: bytes | None) -> None:
        try:
            data = orjson.loads(value or b"")
        except orjson.JSONDecodeError:
            return
        if not isinstance(data, dict):
            return
        if data.get("type") == "notification.replayed" and isinstance(data.get("dead_letter_id"), str):
            try:
                self.replayed.add(UUID(data["dead_letter_id"]))
            except ValueError:
                pass
        elif data.get("type") == "notification.delivered" and isinstance(data.get("dedup_key"), str):
            self.delivered.add(data["dedup_key"])


def plan(letters: Iterable[Letter], history: OutboundHistory) -> list[tuple[Letter, Action]]:
    out: list[tuple[Letter, Action]] = []
    for letter in letters:
        if letter.topic != REPLAYABLE or not letter.readable or letter.record is None:
            out.append((letter, "not replayable"))
        elif letter.event_id in history.replayed:
            out.append((letter, "already replayed"))
        elif letter.dedup_key in history.delivered:
            out.append((letter, "delivered since"))
        else:
            out.append((letter, "replay"))
    return out


def replay_of(letter: Letter, operator: str, now: datetime) -> NotificationReplayed:
    """The record that asks the notifier to deliver the letter's request once more."""
    if letter.record is None:
        raise ValueError(f"{letter.where} cannot be replayed")
    dead = letter.record
    return NotificationReplayed(event_id=replay_id(dead.event_id), dead_letter_id=dead.event_id,
                                dedup_key=dead.dedup_key, request=dead.request, replayed_by=operator, occurred_at=now)


def select(letters: Iterable[Letter], ids: Iterable[str]) -> tuple[list[Letter], list[str]]:
    """Letters named by event id (or a unique prefix of it) or by topic/partition/offset; unknown names."""
    letters = list(letters)
    chosen: list[Letter] = []
    unknown: list[str] = []
    for wanted in ids:
        hits = [x for x in letters if x.where == wanted or (x.event_id and str(x.event_id).startswith(wanted.lower()))]
        if len(hits) != 1:
            unknown.append(wanted if not hits else f"{wanted} (matches {len(hits)} letters: give more of the id)")
        elif hits[0] not in chosen:
            chosen.append(hits[0])
    return chosen, unknown
