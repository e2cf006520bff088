"""The metrics stream's snapshots (docs/scale.md, "Snapshots and restarts"): the member-day book is
restored before the faust app starts, and the app's consumer resumes `engagement.events`, `members`
and `clock.ticks` at the snapshot's offsets (services.common.faust_transport). `member.erasures` is
always read from offset 0: the book never records erased ids (docs/erasure.md), so every erasure is
applied again after a restore. While the app runs, a timer writes a snapshot every N records or T
seconds; the app's stop writes a last one.
"""

from __future__ import annotations

import faust
from faust.types import TP

from contracts.timeline import FollowUp, MemberTimeline, SettingsHistory, ZoneHistory
from contracts.topics import CLOCK_TICKS, ENGAGEMENT_EVENTS, MEMBERS, METRICS_SNAPSHOTS
from services.common.snapshot_codec import StateCodec
from services.common.snapshots import Positions, Snapshotter

from .settings import MetricsSettings
from .state import DayState, MemberDayBook

CODEC = StateCodec(MemberDayBook.SNAPSHOT_VERSION, [MemberTimeline, ZoneHistory, FollowUp, SettingsHistory, DayState],
                   factories=[DayState])
COVERED = frozenset({ENGAGEMENT_EVENTS.name, MEMBERS.name, CLOCK_TICKS.name})
CHECK_EVERY_S = 1.0


class StreamSnapshots:
    """The snapshotter of one faust app's book, and the positions its state holds."""

    def __init__(self, app: faust.App, settings: MetricsSettings) -> None:
        self.app = app
        self.snapshotter = Snapshotter("metrics", "metrics", METRICS_SNAPSHOTS, settings.kafka_bootstrap, CODEC,
                                       capture=lambda: app.book.to_snapshot(), restore=app.book.restore,
                                       every_records=settings.snapshot_every_records,
                                       every_s=settings.snapshot_every_s, enabled=settings.snapshots_enabled)
        self.positions: Positions = {}
        self._counted = 0

    async def restore(self) -> None:
        """Before the app starts: the book from the newest snapshot, and where each partition resumes."""
        if not self.snapshotter.enabled:
            return  # faust's own start: a fresh group reads from the beginning
        restored = await self.snapshotter.load()
        self.positions = {tp: offset for tp, offset in restored.items() if tp[0] in COVERED}
        self._counted = sum(self.positions.values())
        ownership = getattr(self.app, "ownership", None)
        if ownership is not None:  # stream.py: the consumer seeks owned partitions itself (ownership.py)
            ownership.restore(self.positions, self.app.book.member_ids())
            return
        self.app.resume_topics = COVERED
        self.app.resume_offsets = {TP(topic, partition): offset
                                   for (topic, partition), offset in self.positions.items()}

    def forget(self, partitions: set[int]) -> None:
        """Partitions this worker lost: its next snapshot must not claim them (their members are gone)."""
        self.positions = {key: offset for key, offset in self.positions.items() if key[1] not in partitions}
        self._counted = sum(self.positions.values())

    def _current(self) -> Positions:
        """Restored positions moved on by what the agents applied (a quiet partition keeps its restored one)."""
        owned = getattr(getattr(self.app, "ownership", None), "owned", None)
        for key, offset in self.app.lag.applied.items():
            if owned is not None and key[1] not in owned:
                continue
            if key[0] in COVERED and offset > self.positions.get(key, 0):
                self.positions[key] = offset
        total = sum(self.positions.values())
        self.snapshotter.folded(total - self._counted)
        self._counted = total
        return dict(self.positions)

    async def maybe_save(self) -> None:
        await self.snapshotter.maybe_save(self._current())

    def report_restored(self) -> None:
        """A partition resumed at its snapshot offset and quiet since: its applied offset is that one
        (the restored book holds every record before it), so lag and the tests' waits see it."""
        for tp in self.app.consumer.assignment():
            key = (tp.topic, tp.partition)
            if key in self.positions and key not in self.app.lag.applied:
                self.app.lag.record_applied(tp.topic, tp.partition, self.positions[key])

    async def close(self) -> None:
        """At stop (after the agents): one last snapshot if anything was folded since the previous one."""
        positions = self._current()
        if self.snapshotter.enabled and self.snapshotter.folded_since:
            await self.snapshotter.save(positions)
        await self.snapshotter.close()


def attach(app: faust.App, settings: MetricsSettings) -> StreamSnapshots:
    snapshots = app.snapshots = StreamSnapshots(app, settings)

    @app.timer(CHECK_EVERY_S)
    async def snapshot_when_due() -> None:
        snapshots.report_restored()
        await snapshots.maybe_save()

    return snapshots
