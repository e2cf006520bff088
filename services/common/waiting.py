"""Events waiting for their member's enrolment, bounded (pure: no I/O, no clock reads).

An event may be read before the enrolment of its member (topics are read in parallel), so the
notifier and the metrics state keep it until the enrolment arrives. A member who is never enrolled
(a foreign or backfill source writing straight to engagement.events) must not grow that memory
without end: the room holds at most `per_member` events of one member and `total` events in all,
and forgets events older than `window` before the latest tick (ingest refuses events older than the
accepted lateness, so an enrolment arriving later could not have made them count anyway).
Refused and expired events are counted in `dropped` by reason (docs/security.md, "Memory bounds").
Several rooms of one process can share one `total` (a `RoomBudget`): the metrics stream keeps a room
per partition it owns, and the bound is the process's memory, not a partition's.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Generic, TypeVar

Event = TypeVar("Event")

DEFAULT_PER_MEMBER = 5_000   # ingest's hourly limit of one member token
DEFAULT_TOTAL = 200_000
DEFAULT_WINDOW = timedelta(days=30)  # ingest's accepted lateness


class RoomBudget:
    """The `total` bound shared by several rooms: how many events they may hold together."""

    def __init__(self, total: int = DEFAULT_TOTAL) -> None:
        if total < 1:
            raise ValueError("waiting room bounds must be positive")
        self.total, self.used = total, 0


class WaitingRoom(Generic[Event]):
    """member_id → {key: (occurred_at, event)}, in arrival order, within the bounds."""

    def __init__(self, per_member: int = DEFAULT_PER_MEMBER, total: int = DEFAULT_TOTAL,
                 window: timedelta = DEFAULT_WINDOW, budget: RoomBudget | None = None) -> None:
        if per_member < 1 or total < 1:
            raise ValueError("waiting room bounds must be positive")
        self.budget = budget or RoomBudget(total)
        self.per_member, self.total, self.window = per_member, self.budget.total, window
        self._waiting: dict[str, dict[str, tuple[datetime, Event]]] = {}
        self._size = 0
        self.dropped: Counter[str] = Counter()  # reason → events refused or forgotten

    def add(self, member_id: str, key: str, occurred_at: datetime, event: Event, count_drop: bool = True) -> bool:
        """Keep the event; False (and counted) when a bound refuses it. A known key is kept once.
        `count_drop=False`: a second delivery of a record another path has already offered (and had
        counted if refused); a refused key is not remembered, so only the caller can tell."""
        waiting = self._waiting.get(member_id)
        if waiting is not None and key in waiting:
            return True
        if waiting is not None and len(waiting) >= self.per_member:
            self.dropped["member_full"] += int(count_drop)
            return False
        if self.budget.used >= self.budget.total:
            self.dropped["total_full"] += int(count_drop)
            return False
        self._waiting.setdefault(member_id, {})[key] = (occurred_at, event)
        self._resize(1)
        return True

    def _resize(self, change: int) -> None:
        self._size += change
        self.budget.used += change

    def pop(self, member_id: str) -> list[tuple[str, Event]]:
        """The member's waiting events (key, event) in arrival order; they leave the room."""
        waiting = self._waiting.pop(member_id, {})
        self._resize(-len(waiting))
        return [(key, event) for key, (_, event) in waiting.items()]

    def expire(self, now: datetime) -> list[str]:
        """Forget events older than `now − window`; returns their keys."""
        cutoff, gone = now - self.window, []
        for member_id in list(self._waiting):
            waiting = self._waiting[member_id]
            old = [key for key, (at, _) in waiting.items() if at < cutoff]
            for key in old:
                del waiting[key]
            if not waiting:
                del self._waiting[member_id]
            gone += old
        self._resize(-len(gone))
        self.dropped["expired"] += len(gone)
        return gone

    def __len__(self) -> int:
        return self._size

    def members(self) -> int:
        return len(self._waiting)

    def largest(self) -> int:
        return max(map(len, self._waiting.values()), default=0)

    def get(self, member_id: str, default: dict | None = None) -> dict[str, Event] | None:
        """The member's waiting events by key (a copy), or `default`."""
        waiting = self._waiting.get(member_id)
        return default if waiting is None else {key: event for key, (_, event) in waiting.items()}

    def __contains__(self, member_id: object) -> bool:
        return member_id in self._waiting

    def items(self) -> Iterator[tuple[str, str, Event]]:
        """(member_id, key, event) of every waiting event."""
        for member_id, waiting in self._waiting.items():
            for key, (_, event) in waiting.items():
                yield member_id, key, event

    def to_snapshot(self) -> dict:
        """The waiting events and drop counts (not the bounds: those are settings of the running process)."""
        return {"waiting": {m: dict(w) for m, w in self._waiting.items()}, "dropped": Counter(self.dropped)}

    def restore(self, data: dict) -> None:
        self._waiting = {m: dict(w) for m, w in data["waiting"].items()}
        self._resize(sum(map(len, self._waiting.values())) - self._size)
        self.dropped = Counter(data["dropped"])

    def clear(self) -> None:
        """Forget every waiting event (the room is dropped): its share of the budget is free again."""
        self._waiting = {}
        self._resize(-self._size)
