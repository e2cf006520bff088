"""Dedup state bounded by time (pure: no I/O, no clock reads — "now" is the latest clock tick).

A key only has to be remembered while a record carrying it can still arrive: ingest refuses events
older than the accepted lateness (30 days before the latest tick) and a reminder slot is never decided
again once its tick has passed, so keys older than the lateness plus a margin can be forgotten without
changing any decision (docs/scale.md, "Windowed dedup"). The window is a setting
(`DEDUP_WINDOW_DAYS`, default 30 + 2 days of margin)."""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from datetime import datetime, timedelta

ACCEPTED_LATENESS = timedelta(days=30)  # ingest refuses events older than this before the latest tick
DEFAULT_WINDOW = ACCEPTED_LATENESS + timedelta(days=2)  # + margin: a tick period, zones, a slow replica
MIN_WINDOW = ACCEPTED_LATENESS + timedelta(days=1)
PRUNE_EVERY = timedelta(hours=1)


class WindowedKeys:
    """Keys with the instant they concern; `prune(now)` forgets those older than `now − window`."""

    def __init__(self, window: timedelta = DEFAULT_WINDOW) -> None:
        self.window = window
        self._at: dict[str, datetime] = {}
        self._values: dict[str, str] = {}

    def add(self, key: str, at: datetime, value: str = "") -> None:
        if key not in self._at or at < self._at[key]:
            self._at[key] = at
        self._values[key] = value

    def get(self, key: str, default: str | None = None) -> str | None:
        return self._values.get(key, default)

    def __contains__(self, key: object) -> bool:
        return key in self._at

    def __len__(self) -> int:
        return len(self._at)

    def __iter__(self) -> Iterator[str]:
        return iter(self._at)

    def items(self):
        return self._values.items()

    def values(self):
        return self._values.values()

    def keys(self):
        return self._at.keys()

    def discard_where(self, concerns) -> int:
        """Forget every key for which `concerns(key)` is true (an erased member's keys); how many."""
        gone = [key for key in self._at if concerns(key)]
        for key in gone:
            del self._at[key]
            self._values.pop(key, None)
        return len(gone)

    def prune(self, now: datetime) -> int:
        """Forget keys older than the window; returns how many were forgotten."""
        cutoff = now - self.window
        old = [key for key, at in self._at.items() if at < cutoff]
        for key in old:
            del self._at[key]
            self._values.pop(key, None)
        return len(old)

    def to_snapshot(self) -> dict:
        """The remembered keys (not the window: that is a setting of the running process)."""
        return {"at": dict(self._at), "values": dict(self._values)}

    def restore(self, data: dict) -> None:
        self._at, self._values = dict(data["at"]), dict(data["values"])


class SeenIds:
    """Ids of records already folded, each with the instant its record concerns (`occurred_at`).

    `prune(now)` forgets ids older than the window before `now` — but never before the newest instant
    added: a state rebuilt from the log reads its clock ticks beside the replayed records and may be
    months ahead of them, and a re-delivery sits close to its first copy in the log, so the window
    follows the records read, not only the clock."""

    def __init__(self, window: timedelta = DEFAULT_WINDOW) -> None:
        self.window = window
        self._at: dict[Hashable, datetime] = {}
        self.newest: datetime | None = None
        self._pruned_at: datetime | None = None

    def add(self, key: Hashable, at: datetime) -> bool:
        """Remember `key`; False when it was known (a re-delivery)."""
        if key in self._at:
            return False
        self._at[key] = at
        if self.newest is None or at > self.newest:
            self.newest = at
        return True

    def __contains__(self, key: object) -> bool:
        return key in self._at

    def __len__(self) -> int:
        return len(self._at)

    def prune(self, now: datetime) -> int:
        """Forget ids older than the window (at most once per `PRUNE_EVERY` of `now`); how many went."""
        if self.newest is not None:
            now = min(now, self.newest)
        if self._pruned_at is not None and now - self._pruned_at < PRUNE_EVERY:
            return 0
        self._pruned_at = now
        cutoff = now - self.window
        old = [key for key, at in self._at.items() if at < cutoff]
        for key in old:
            del self._at[key]
        return len(old)

    def to_snapshot(self) -> dict:
        """The remembered ids and the clamp (not the window: a setting of the running process)."""
        return {"at": dict(self._at), "newest": self.newest, "pruned_at": self._pruned_at}

    def restore(self, data: dict) -> None:
        self._at, self.newest, self._pruned_at = dict(data["at"]), data["newest"], data["pruned_at"]
