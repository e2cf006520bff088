"""A ZIP written as it is read: CSV rows go into the archive a few hundred at a time and every chunk
the compressor produced is handed on at once, so memory stays bounded by the cohort's member-days (which
every published number reads anyway), never by the size of the archive."""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timezone
from typing import Any

ROWS_PER_CHUNK = 500


class _Pipe(io.RawIOBase):
    """A write-only, unseekable stream whose bytes are taken out by the reader (zipfile then writes data
    descriptors after each member instead of seeking back)."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        out = b"".join(self._parts)
        self._parts.clear()
        return out


def zip_stream(files: Iterable[tuple[str, list[str], Iterable[list[Any]]]],
               extra: Iterable[tuple[str, str]] = (),
               on_file: Callable[[str, int], None] | None = None) -> Iterator[bytes]:
    """The archive's bytes: each (name, header, rows) as a CSV, then each (name, text) of `extra`.
    `on_file(name, rows)` is called after each file (the CLI's progress)."""
    pipe = _Pipe()
    stamp = datetime.now(timezone.utc).timetuple()[:6]
    with zipfile.ZipFile(pipe, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, header, rows in files:
            count = 0
            entry = zipfile.ZipInfo(name, stamp)
            entry.compress_type = zipfile.ZIP_DEFLATED
            with archive.open(entry, "w") as member, io.TextIOWrapper(member, encoding="utf-8", newline="") as text:
                writer = csv.writer(text, lineterminator="\n")
                writer.writerow(header)
                for row in rows:
                    writer.writerow(row)
                    count += 1
                    if count % ROWS_PER_CHUNK == 0:
                        text.flush()
                        if chunk := pipe.take():
                            yield chunk
            if on_file:
                on_file(name, count)
            if chunk := pipe.take():
                yield chunk
        for name, text in extra:
            archive.writestr(zipfile.ZipInfo(name, stamp), text, zipfile.ZIP_DEFLATED)
            if on_file:
                on_file(name, 1)
    yield pipe.take()
