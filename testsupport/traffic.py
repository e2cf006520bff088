"""Steady traffic for readiness tests: a log that never goes quiet while the block runs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from services.common.kafka import Publisher, Record


@asynccontextmanager
async def steady_traffic(publisher: Publisher, records: Callable[[int], list[Record]],
                         every_s: float = 0.05) -> AsyncIterator[None]:
    """Publish `records(n)` (n = 1, 2, …) every `every_s` until the block ends (acks=all each time)."""
    stop = asyncio.Event()

    async def run() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            await publisher.publish(records(n))
            await asyncio.sleep(every_s)

    task = asyncio.create_task(run(), name="steady-traffic")
    try:
        yield
    finally:
        stop.set()
        await task
