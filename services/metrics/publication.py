"""`engagement.daily` leaves the member-day state in order, without stalling the fold.

The agents hand each batch of changed member-days to `DailyPublication.put`; one publishing task
sends them, acks=all, one broker round trip at a time. The agents go on folding while a batch waits
for its acknowledgement (awaiting it in the agent cost ~15 % of the stream rate), and a record
never overtakes an older state of its key: batches leave in the order the state produced them, and
batches that queued up meanwhile leave together, each key with its latest state only (the topic is
compacted, so nothing a reader needs is dropped).

A broker outage pauses publication (retried with backoff) and the agents once `max_batches` wait:
nothing is dropped while the process lives. Records still queued at a crash are re-published by the
replay of the source topics at the next start (stream.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from kafka.errors import KafkaError

from services.common.kafka import BrokerUnavailable, Publisher, Record
from services.common.logging import log

from .telemetry import DAYS_PUBLISHED


class DailyPublication:
    def __init__(self, open_publisher: Callable[[], Publisher], max_batches: int = 4) -> None:
        self._open_publisher = open_publisher
        self._publisher: Publisher | None = None
        self._queue: asyncio.Queue[tuple[int, Sequence[Record]]] = asyncio.Queue(max_batches)
        self._idle = asyncio.Event()
        self._idle.set()
        self._put = 0  # batches put so far
        self._acknowledged = 0  # batches acknowledged so far (in order: batches leave in order)
        self._progress = asyncio.Condition()

    async def put(self, records: Sequence[Record]) -> None:
        if records:
            self._idle.clear()
            self._put += 1
            await self._queue.put((self._put, records))

    def mark(self) -> int:
        """A mark of everything put so far (for `acknowledged`)."""
        return self._put

    async def acknowledged(self, mark: int, timeout_s: float) -> bool:
        """Wait until everything put before `mark` is acknowledged; False after `timeout_s`. A snapshot
        waits for this before it is written: a restart from it never re-publishes what it holds."""
        async def reached() -> None:
            async with self._progress:
                await self._progress.wait_for(lambda: self._acknowledged >= mark)
        try:
            await asyncio.wait_for(reached(), timeout_s)
        except asyncio.TimeoutError:
            return False
        return True

    @property
    def idle(self) -> bool:
        """Nothing put so far is still waiting for the broker's acknowledgement."""
        return self._idle.is_set()

    async def flushed(self) -> None:
        """Wait until everything put so far is acknowledged by the broker."""
        await self._idle.wait()

    async def run(self) -> None:
        """The publishing task: runs until cancelled."""
        while True:
            sequence, records = await self._queue.get()
            latest = {(r.topic, r.key): r for r in records}
            while not self._queue.empty():
                sequence, records = self._queue.get_nowait()
                latest.update(((r.topic, r.key), r) for r in records)
            await self._send(list(latest.values()))
            async with self._progress:
                self._acknowledged = sequence
                self._progress.notify_all()
            if self._queue.empty():
                self._idle.set()

    async def _send(self, records: list[Record]) -> None:
        backoff = 0.5
        while True:
            try:
                if self._publisher is None:
                    self._publisher = await asyncio.to_thread(self._open_publisher)
                await self._publisher.publish(records)
                DAYS_PUBLISHED.inc(len(records))
                return
            except (BrokerUnavailable, KafkaError) as exc:
                log.warning("engagement_daily_publish_retry", records=len(records), error=str(exc)[:200],
                            retry_in_s=backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    async def close(self) -> None:
        """At stop. What is still unacknowledged is not waited for long: no snapshot holds it, so the
        next start publishes it again from the log (a broker outage must not hold the stop)."""
        if self._publisher is not None:
            await asyncio.to_thread(self._publisher.close, 1.0)
            self._publisher = None
