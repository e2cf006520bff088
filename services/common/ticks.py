"""The tick gate every `clock.ticks` consumer puts in front of its time-dependent work (docs/clock.md).

Per partition it remembers the latest tick it applied and judges each new one:

* `apply`               — strictly later than the latest applied on that partition;
* `duplicate_or_stale`  — equal (a second clock process wrote the same period) or earlier (time never
                          goes backwards): ignored;
* `future`              — in wall mode, more than `future_limit` (1 day) after the record's own Kafka
                          timestamp: only a foreign producer writes that; ignored. The record's
                          timestamp, not this process's clock, is the reference, so a rebuild from the
                          log judges every tick exactly as the live run did;
* `skipped_to_newest`   — a consumer catching up with a later applicable tick already waiting on the
                          same partition applies only that one (one decision instead of one per minute).

`TickGate` is pure (no I/O, no clock reads). `CountedTickGate` counts into the one set of Prometheus
series all services share (declared in services/common/telemetry.py): `clock_ticks_ignored_total{consumer,reason}`, `clock_ticks_applied_total{consumer}`
and `clock_tick_applied_timestamp_seconds{consumer}` (the latest applied tick; the ClockStalled alert).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from enum import StrEnum

from .telemetry import CLOCK_MODE_INFO, TICK_APPLIED_AT, TICKS_APPLIED, TICKS_IGNORED

FUTURE_LIMIT = timedelta(days=1)


class Verdict(StrEnum):
    APPLY = "apply"
    STALE = "duplicate_or_stale"
    FUTURE = "future"
    SUPERSEDED = "skipped_to_newest"


@dataclass(frozen=True)
class Tick:
    """One `clock.tick` record as a consumer received it."""

    now: datetime
    written_at: datetime | None = None  # the record's Kafka timestamp (None: not known, e.g. a direct call)


def kafka_time(timestamp_ms: int | float | None, scale: float = 1000) -> datetime | None:
    """A Kafka record timestamp (ms since the epoch; faust gives seconds: scale=1) as a datetime."""
    if timestamp_ms is None or timestamp_ms < 0:
        return None
    return datetime.fromtimestamp(timestamp_ms / scale, tz=timezone.utc)


@dataclass
class TickGate:
    future_limit: timedelta | None = None  # None in simulated mode: any time may be simulated
    latest: dict[int, datetime] = field(default_factory=dict)  # partition → latest applied tick

    @classmethod
    def for_mode(cls, clock_mode: str) -> "TickGate":
        return cls(FUTURE_LIMIT if clock_mode == "wall" else None)

    def judge(self, partition: int, tick: Tick) -> Verdict:
        """The verdict on `tick` without recording it."""
        if self.future_limit is not None and tick.written_at is not None \
                and tick.now - tick.written_at > self.future_limit:
            return Verdict.FUTURE
        latest = self.latest.get(partition)
        if latest is not None and tick.now <= latest:
            return Verdict.STALE
        return Verdict.APPLY

    def admit(self, partition: int, tick: Tick) -> Verdict:
        """Judge `tick` and, when it applies, record it as the partition's latest."""
        verdict = self.judge(partition, tick)
        if verdict is Verdict.APPLY:
            self.latest[partition] = tick.now
        return verdict

    def admit_batch(self, partition: int, ticks: Sequence[Tick]) -> list[Verdict]:
        """Verdicts for ticks waiting in log order on one partition: of those that would apply, only
        the newest does (`skipped_to_newest` for the rest)."""
        verdicts: list[Verdict] = []
        probe = TickGate(self.future_limit, {partition: self.latest[partition]} if partition in self.latest else {})
        for tick in ticks:
            verdicts.append(probe.admit(partition, tick))
        applied = [i for i, v in enumerate(verdicts) if v is Verdict.APPLY]
        for i in applied[:-1]:
            verdicts[i] = Verdict.SUPERSEDED
        if applied:
            self.latest[partition] = ticks[applied[-1]].now
        return verdicts

    def seed(self, partition: int, now: datetime) -> None:
        """Restore a partition's latest applied tick (e.g. from stored rows after a restart)."""
        if partition not in self.latest or now > self.latest[partition]:
            self.latest[partition] = now

    def newest(self) -> datetime | None:
        return max(self.latest.values(), default=None)


def publish_clock_mode(mode: str) -> None:
    """Export the mode once at start (the ClockStalled alert fires in wall mode only)."""
    for known in ("wall", "simulated"):
        CLOCK_MODE_INFO.labels(known).set(1 if known == mode else 0)


class CountedTickGate(TickGate):
    """A TickGate that counts its verdicts under `consumer` (e.g. "notifier", "metrics_sink")."""

    def __init__(self, consumer: str, future_limit: timedelta | None = None) -> None:
        super().__init__(future_limit)
        self.consumer = consumer

    def announce(self) -> None:
        """Export this consumer's series at 0, once it really consumes (not in a process that only
        builds the part, e.g. an API-only metrics replica): "started and never applied a tick" is
        visible to the ClockStalled alert."""
        TICKS_APPLIED.labels(self.consumer)
        for verdict in Verdict:
            if verdict is not Verdict.APPLY:
                TICKS_IGNORED.labels(self.consumer, verdict.value)

    @classmethod
    def for_service(cls, consumer: str, clock_mode: str) -> "CountedTickGate":
        return cls(consumer, FUTURE_LIMIT if clock_mode == "wall" else None)

    def count(self, verdicts: Sequence[Verdict]) -> None:
        for verdict in verdicts:
            if verdict is Verdict.APPLY:
                TICKS_APPLIED.labels(self.consumer).inc()
            else:
                TICKS_IGNORED.labels(self.consumer, verdict.value).inc()
        newest = self.newest()
        if newest is not None:
            TICK_APPLIED_AT.labels(self.consumer).set(newest.timestamp())

    def admit(self, partition: int, tick: Tick) -> Verdict:
        verdict = super().admit(partition, tick)
        self.count([verdict])
        return verdict

    def admit_batch(self, partition: int, ticks: Sequence[Tick]) -> list[Verdict]:
        verdicts = super().admit_batch(partition, ticks)
        self.count(verdicts)
        return verdicts

    def seed(self, partition: int, now: datetime) -> None:
        super().seed(partition, now)
        self.count([])
