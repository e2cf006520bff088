"""The clock loop: write the due tick to every partition (acks=all), then sleep to the next period."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone

from contracts.clock import ClockTick, tick_event_id
from contracts.topics import CLOCK_TICKS
from services.common.kafka import BrokerUnavailable, Publisher, Record
from services.common.logging import log

from .period import due_tick, seconds_to_next
from .settings import ClockSettings
from .telemetry import LAST_WRITTEN, WRITE_FAILURES, WRITTEN


def wall_clock() -> datetime:
    return datetime.now(timezone.utc)


class Ticker:
    def __init__(self, settings: ClockSettings, wall: Callable[[], datetime] = wall_clock,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.settings, self.wall, self.sleep = settings, wall, sleep
        self.period = settings.clock_period
        self.publisher: Publisher | None = None
        self.last_written: datetime | None = None

    async def _connect(self) -> Publisher:
        delay = 0.2
        while True:
            try:
                return await asyncio.to_thread(Publisher, self.settings.kafka_bootstrap,
                                               self.settings.delivery_timeout_ms, "clock")
            except Exception as exc:  # kafka-python raises NoBrokersAvailable and friends
                log.warning("clock_broker_unreachable", error=type(exc).__name__, retry_in_s=delay)
                await self.sleep(delay)
                delay = min(delay * 2, self.settings.retry_max_s)

    async def write(self, now: datetime) -> None:
        """One tick, the same record on every partition: each partition's consumers see time advance
        in order with their own members' events."""
        assert self.publisher is not None
        tick = ClockTick(event_id=tick_event_id(now), now=now)
        value = tick.model_dump_json().encode()
        partitions = await asyncio.to_thread(self.publisher.partitions_for, CLOCK_TICKS.name)
        await self.publisher.publish([Record(CLOCK_TICKS.name, str(p).encode(), value, partition=p)
                                      for p in range(partitions)])

    async def run(self) -> None:
        self.publisher = await self._connect()
        delay = 0.2
        while True:
            now = due_tick(self.wall(), self.period, self.last_written)
            if now is not None:
                try:
                    await self.write(now)
                except BrokerUnavailable as exc:
                    WRITE_FAILURES.inc()
                    log.warning("clock_tick_not_written", now=now.isoformat(), error=str(exc)[:200], retry_in_s=delay)
                    await self.sleep(delay)
                    delay = min(delay * 2, self.settings.retry_max_s)
                    continue  # the next attempt writes the period current THEN, not this one
                delay = 0.2
                self.last_written = now
                WRITTEN.inc()
                LAST_WRITTEN.set(now.timestamp())
                log.info("clock_tick_written", now=now.isoformat())
            # A little past the boundary, so the wall clock has surely entered the next period.
            await self.sleep(seconds_to_next(self.wall(), self.period) + 0.01)

    def close(self) -> None:
        if self.publisher is not None:
            self.publisher.close()
