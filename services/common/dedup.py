"""Dedup state bounded by time (pure: no I/O, no clock reads — "now" is the latest clock tick).

A key only has to be remembered while a record carrying it can still arrive: ingest refuses events
older than the accepted lateness (30 days before the latest tick) and a reminder slot is never decided
again once its tick has passed, so keys older than the lateness plus a margin can be forgotten without
changing any decision (docs/scale.md, "Windowed dedup"). The window is a setting
(`DEDUP_WINDOW_DAYS`, default 30 + 2 days of margin)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

DEFAULT_WINDOW = timedelta(days=32)


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
