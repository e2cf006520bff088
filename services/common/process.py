"""Process-wide tuning every CareCircle service applies once at start."""

from __future__ import annotations

import gc


def tune_gc() -> None:
    """Run CPython's cyclic collector on every 10,000 net allocations instead of 700.

    Services allocate many short-lived objects per request or record (JSON, pydantic models) and
    keep large long-lived state (stream books, caches); at the default threshold the collector
    kept re-scanning that state. Measured on this machine: bench.metrics_stream 12.5k → 15.8k
    events/s, bench.ingest single-event p99 59.5 ms → 14.7 ms at 1,000 req/s and 500-event batches
    26k → 36k events/s. Reference cycles are still collected, only less often."""
    gc.set_threshold(10_000, 10, 10)
