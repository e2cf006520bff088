"""The on-disk queue: events wait in SQLite until ingest acknowledged or rejected them.

An event is written (with its final event_id and occurred_at) before `track_*` returns, so a crash or
restart of the app loses nothing; a batch is deleted only after ingest answered for it."""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any, Iterable

_SCHEMA = """
CREATE TABLE IF NOT EXISTS pending (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE,
    body TEXT NOT NULL
)
"""


class EventQueue:
    """FIFO of event JSON keyed by event_id (a re-track of the same id is stored once)."""

    def __init__(self, path: str | Path = ":memory:") -> None:
        self._lock = threading.Lock()
        # check_same_thread=False: the background flusher and the app thread share it under _lock.
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # an acknowledged track survives a power cut
        self._db.execute(_SCHEMA)

    def put(self, event: dict[str, Any]) -> None:
        with self._lock:
            self._db.execute("INSERT OR IGNORE INTO pending (event_id, body) VALUES (?, ?)",
                             (event["event_id"], json.dumps(event, separators=(",", ":"))))

    def peek(self, limit: int) -> list[dict[str, Any]]:
        """The oldest `limit` events, left in the queue."""
        with self._lock:
            rows = self._db.execute("SELECT body FROM pending ORDER BY seq LIMIT ?", (limit,)).fetchall()
        return [json.loads(body) for (body,) in rows]

    def remove(self, event_ids: Iterable[str]) -> None:
        ids = list(event_ids)
        with self._lock:
            self._db.executemany("DELETE FROM pending WHERE event_id = ?", [(i,) for i in ids])

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM pending").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()
