"""Reading a service's JSON log (one JSON object per line; other lines, such as a library's plain
text, are skipped)."""

from __future__ import annotations

import json
from pathlib import Path


def json_entries(text: str) -> list[dict]:
    """The JSON objects of a log text, in order."""
    entries = []
    for line in text.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict):
            entries.append(entry)
    return entries


def logged_since(path: str | Path, start: int = 0) -> list[dict]:
    """The JSON objects a log file gained after byte `start`."""
    with open(path, "rb") as log:
        log.seek(start)
        return json_entries(log.read().decode(errors="replace"))
