"""The metrics stream's snapshots, one per member partition (docs/scale.md, "Snapshots and restarts").

A partition's snapshot is its book (`books.py`) and the offsets of that partition of
`engagement.events`, `members` and `clock.ticks` it holds, keyed `metrics-p<N>` on `metrics.snapshots`.
A worker restores the partitions it gains, at its start or after a rebalance, from their newest
snapshots (written by whichever worker owned them last) and reads only the log after them.
`member.erasures` is always read from offset 0: the books never record erased ids (docs/erasure.md),
so every erasure is applied again after a restore. While the app runs, a timer writes each owned
partition's snapshot every N records or T seconds, and the app's stop writes a last one.

A snapshot is written only once the member-days its state published are acknowledged on
`engagement.daily`: a restart from it never re-reads the records behind those days, so it could not
re-publish one still queued at a crash.
"""

from __future__ import annotations

import asyncio
import time

import faust

from contracts.timeline import FollowUp, MemberTimeline, SettingsHistory, ZoneHistory
from contracts.topics import CLOCK_TICKS, ENGAGEMENT_EVENTS, MEMBERS, METRICS_SNAPSHOTS
from services.common.kafka import broker_reachable
from services.common.snapshot_codec import StateCodec
from services.common.snapshots import Positions, SharedPublisher, Snapshotter, read_newest_of
from services.common.telemetry import SNAPSHOT_RESTORED_OFFSETS

from .settings import MetricsSettings
from .state import DayState, MemberDayBook

CODEC = StateCodec(MemberDayBook.SNAPSHOT_VERSION, [MemberTimeline, ZoneHistory, FollowUp, SettingsHistory, DayState],
                   factories=[DayState])
COVERED = frozenset({ENGAGEMENT_EVENTS.name, MEMBERS.name, CLOCK_TICKS.name})
CHECK_EVERY_S = 1.0
ACKNOWLEDGED_WITHIN_S = 30.0  # a snapshot waits this long for its days' acknowledgement, else waits for the next
LOAD_WITHIN_S = 20.0  # reading the gained partitions' snapshots; past it, those partitions are replayed


def scope(partition: int) -> str:
    return f"metrics-p{partition}"


class StreamSnapshots:
    """The snapshotters of one faust app's partition books, and the positions each book holds."""

    def __init__(self, app: faust.App, settings: MetricsSettings) -> None:
        self.app, self.settings = app, settings
        self.enabled = settings.snapshots_enabled
        self.publisher = SharedPublisher(settings.kafka_bootstrap, "metrics-snapshots")
        self.snapshotters: dict[int, Snapshotter] = {}
        self.positions: dict[int, Positions] = {}  # partition → the positions its book holds
        self._counted: dict[int, int] = {}

    def _snapshotter(self, partition: int) -> Snapshotter:
        snapshotter = self.snapshotters.get(partition)
        if snapshotter is None:
            settings, books = self.settings, self.app.books
            snapshotter = self.snapshotters[partition] = Snapshotter(
                "metrics", scope(partition), METRICS_SNAPSHOTS, settings.kafka_bootstrap, CODEC,
                capture=lambda: books.book(partition).to_snapshot(),
                restore=lambda state: books.restore(partition, state),
                every_records=settings.snapshot_every_records, every_s=settings.snapshot_every_s,
                enabled=self.enabled, publisher=self.publisher)
        return snapshotter

    async def load(self, partitions: set[int]) -> Positions:
        """Restore the books of gained `partitions` from their newest snapshots; the positions they
        resume at (a partition without a usable snapshot is missing from them: it starts at 0)."""
        if not self.enabled or not partitions:
            return {}
        started = time.monotonic()
        try:
            values = await asyncio.wait_for(  # a broker that vanished mid-read must not hold the seek
                read_newest_of(self.settings.kafka_bootstrap, METRICS_SNAPSHOTS,
                               [scope(p).encode() for p in sorted(partitions)], timeout_s=LOAD_WITHIN_S),
                LOAD_WITHIN_S)
            unreadable = None
        except Exception as exc:  # broker or topic trouble: replaying the log is always correct
            values, unreadable = {}, type(exc).__name__
        resumed: Positions = {}
        for partition in sorted(partitions):
            snapshotter = self._snapshotter(partition)
            if unreadable is not None:
                restored = snapshotter.fallback("unreadable", unreadable)
            else:
                restored = await snapshotter.restore_value(values.get(scope(partition).encode()), started)
            own = {key: offset for key, offset in restored.items() if key[0] in COVERED and key[1] == partition}
            self.positions[partition], self._counted[partition] = own, sum(own.values())
            resumed |= own
        SNAPSHOT_RESTORED_OFFSETS.labels("metrics").set(sum(self._counted.values()))
        return resumed

    def forget(self, partitions: set[int]) -> None:
        """Partitions this worker lost (their books are dropped): no snapshot of them from here."""
        for partition in partitions:
            self.snapshotters.pop(partition, None)
            self.positions.pop(partition, None)
            self._counted.pop(partition, None)

    def _current(self, partition: int) -> Positions:
        """The partition's restored positions moved on by what the agents applied."""
        positions = self.positions.setdefault(partition, {})
        for key, offset in self.app.lag.applied.items():
            if key[1] == partition and key[0] in COVERED and offset > positions.get(key, 0):
                positions[key] = offset
        total = sum(positions.values())
        self._snapshotter(partition).folded(total - self._counted.get(partition, 0))
        self._counted[partition] = total
        return dict(positions)

    async def maybe_save(self) -> None:
        """Write the snapshot of each owned partition that is due."""
        await self._save(lambda snapshotter: snapshotter.due(time.monotonic()), ACKNOWLEDGED_WITHIN_S)

    async def final(self) -> None:
        """At stop, while the publishing task still runs: one last snapshot of each owned partition that
        folded anything since its previous one, if what it published is acknowledged within the
        rebalance flush time (a broker outage must not hold the stop; the log after the previous
        snapshot is read again instead)."""
        if not self.enabled or not await broker_reachable(self.settings.kafka_bootstrap):
            return  # an outage: waiting for acknowledgements would only hold the stop
        within = self.settings.rebalance_flush_s
        if not await self.app.daily.acknowledged(self.app.daily.mark(), within):  # once, not per partition
            return
        await self._save(lambda snapshotter: snapshotter.folded_since > 0, within)

    async def _save(self, wanted, within_s: float) -> None:
        """Save each owned partition `wanted` picks, once what its captured state published is
        acknowledged (waiting at most `within_s`)."""
        if not self.enabled:
            return
        daily = self.app.daily
        for partition in sorted(self.app.ownership.owned):
            snapshotter, positions = self._snapshotter(partition), self._current(partition)
            if wanted(snapshotter):
                mark = daily.mark()  # taken with the state (no await before save captures it)
                await snapshotter.save(positions, ready=lambda mark=mark: daily.acknowledged(mark, within_s))

    def report_restored(self) -> None:
        """A partition resumed at its snapshot offset and quiet since: its applied offset is that one
        (the restored book holds every record before it), so lag and the tests' waits see it."""
        for tp in self.app.consumer.assignment():
            key = (tp.topic, tp.partition)
            restored = self.positions.get(tp.partition, {})
            if key in restored and key not in self.app.lag.applied:
                self.app.lag.record_applied(tp.topic, tp.partition, restored[key])

    async def close(self) -> None:
        await self.publisher.close()


def attach(app: faust.App, settings: MetricsSettings) -> StreamSnapshots:
    snapshots = app.snapshots = StreamSnapshots(app, settings)

    @app.timer(CHECK_EVERY_S)
    async def snapshot_when_due() -> None:
        snapshots.report_restored()
        await snapshots.maybe_save()

    return snapshots
