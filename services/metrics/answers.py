"""API answers, cached for as long as the stored data they come from is unchanged.

Every published number is a function of the tables alone ("today" is the latest clock tick stored,
never the wall clock). ClickHouse changes nothing in place: each insert, mutation, merge or truncation
replaces active parts, and part names never repeat (they carry increasing block numbers), so the set
of active part names of the database is a version of its data. An answer is served from the cache
only while that version is the one it was computed at; reading the version is one metadata query,
far cheaper than computing (bench/results.md, "Probes behind design choices"). While the sink
writes, versions change and answers are computed afresh: the cache never trades freshness for speed.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from . import queries, telemetry
from .clickhouse import ClickHouse

DATA_VERSION_SQL = """SELECT sipHash64(arraySort(groupArray(concat(table, '/', name)))) AS version
    FROM system.parts WHERE database = currentDatabase() AND active"""

UNKNOWN_COHORT = object()  # the answer for a cohort with neither enrolments nor settings


def data_version(ch: ClickHouse) -> int:
    return ch.query(DATA_VERSION_SQL)[0]["version"]


class Answers:
    def __init__(self, ch: ClickHouse, max_entries: int = 1_024) -> None:
        self.ch, self.max_entries = ch, max_entries
        self._entries: OrderedDict[tuple, tuple[int, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, fn: Callable[..., Any], cohort: str, *args: Any) -> Any:
        """`fn(ch, cohort, *args)`, or UNKNOWN_COHORT; from the cache when the data is unchanged."""
        version = data_version(self.ch)  # read BEFORE computing: a write meanwhile makes the next request recompute
        key = (fn.__module__, fn.__qualname__, cohort, args)
        with self._lock:
            hit = self._entries.get(key)
            if hit is not None and hit[0] == version:
                self._entries.move_to_end(key)
                telemetry.ANSWERS.labels("cache").inc()
                return hit[1]
        answer = fn(self.ch, cohort, *args) if queries.cohort_exists(self.ch, cohort) else UNKNOWN_COHORT
        telemetry.ANSWERS.labels("computed").inc()
        with self._lock:
            self._entries[key] = (version, answer)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return answer
