"""Per-caller rate limits (the `limits` library, in-process sliding windows): 429 with Retry-After."""

from __future__ import annotations

import math
import time

from fastapi import HTTPException, status
from limits import parse_many
from limits.storage import MemoryStorage
from limits.strategies import SlidingWindowCounterRateLimiter


class CallerRateLimit:
    """`check(key)` raises 429 once `key` exceeds any of the limits, e.g. "10/second;300/minute".

    In-process: with N ingest replicas behind a balancer a member gets at most N times the limit,
    which is the intent (protect each replica), not a quota."""

    def __init__(self, spec: str) -> None:
        self.items = parse_many(spec)
        self.limiter = SlidingWindowCounterRateLimiter(MemoryStorage())

    def check(self, key: str, cost: int = 1) -> None:
        """Count `cost` units (one request, or the events of a batch) for `key` against every limit."""
        for item in self.items:
            if not self.limiter.hit(item, key, cost=cost):
                self._refuse(item, key)

    def _refuse(self, item, key: str) -> None:
        reset = self.limiter.get_window_stats(item, key).reset_time
        retry_after = max(1, math.ceil(reset - time.time()))
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            detail=f"rate limit {item} exceeded; retry after {retry_after} s",
            headers={"Retry-After": str(retry_after)},
        )
