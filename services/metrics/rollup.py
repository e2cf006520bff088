"""Keeps the `member_days` rollup (what Grafana reads) current: after the sink has written something,
every cohort's member-days are recomputed inside ClickHouse from the raw events (at most once per
interval) as a new generation."""

from __future__ import annotations

import asyncio
import time

from services.common.logging import log
from services.common.tasks import cancel_and_wait

from . import queries, telemetry
from .clickhouse import ClickHouse, ClickHouseError
from .sink import Sink


class Rollup:
    def __init__(self, ch: ClickHouse, sink: Sink, interval_s: float) -> None:
        self.ch, self.sink, self.interval_s = ch, sink, interval_s
        self._seen = -1
        self._task: asyncio.Task | None = None

    def refresh(self) -> None:
        started, version = time.perf_counter(), time.time_ns()
        for cohort in queries.cohorts(self.ch):
            queries.refresh_rollup(self.ch, cohort, version)
        telemetry.ROLLUP_REFRESHES.inc()
        telemetry.ROLLUP_SECONDS.set(time.perf_counter() - started)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            if self.sink.batches == self._seen:
                continue
            seen = self.sink.batches
            try:
                await asyncio.to_thread(self.refresh)
                self._seen = seen
            except ClickHouseError as exc:
                log.warning("rollup_failed", error=str(exc)[:500])

    async def start(self) -> None:
        if self.interval_s > 0:
            self._task = asyncio.create_task(self._run(), name="member-days-rollup")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
