"""The log-state runtime shared by the services that keep their state in their own topics (notifier,
survey): rebuild it by folding those topics from offset 0, keep tailing them, publish with retry and
guard ids with locks. A service subclasses `LogStateRuntime` and supplies `fold` (idempotent: a
record may be folded twice, by the tail and by the process that published it) and `on_rebuilt`.
`LogTail` alone (the rebuild and the tail, no publishing) keeps ingest's member directory.

State is never taken from faust changelogs, and the end of the log is not trusted either: tansu
answers ListOffsets with the base offset of the last batch + 1, one batch short. So the state
counts as rebuilt once the tail is past the *reported* end offsets and then either the log has been
quiet for `rebuild_idle_s` (the rest of the last batch has arrived by then) or, under steady traffic
where the log is never quiet, 10 idle periods have passed since (fetches return whole batches, so
the short batch was read long before). Until then `rebuilt` is unset and `/readyz` answers 503.
A tail topic that does not exist keeps the state unrebuilt (retried every second): an empty state
must never count as ready. See docs/services/README.md.

Bounded restarts (docs/scale.md, "Snapshots and restarts"): a runtime given a `Snapshotter` first
restores the newest snapshot of its state and the tail resumes each partition it covers at the
snapshot's offset (the other tail topics, and every partition after a fallback, from offset 0); once
rebuilt, the tail writes a snapshot of the state with the positions it has folded to, every N records
or T seconds, and once more on a clean stop.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable, Sequence
from contextlib import suppress

from aiokafka import AIOKafkaConsumer, TopicPartition
from fastapi import Request

from contracts.topics import MEMBER_ERASURES, MEMBER_KEYS

from .kafka import BrokerUnavailable, Publisher, Record, broker_reachable, tail_from_start
from .lag import LagReporter
from .logging import log
from .snapshots import Positions, Snapshotter
from .tasks import cancel_and_wait

# Past the reported end, a never-quiet log counts as read after this many idle periods.
STEADY_TRAFFIC_IDLE_PERIODS = 10
# Tail topics every start folds from offset 0, snapshot or not (see snapshot_topics).
NEVER_SNAPSHOTTED = frozenset({MEMBER_KEYS.name, MEMBER_ERASURES.name})
# How often the tail asks for the log end to publish its lag (an extra ListOffsets request).
LOG_END_REFRESH_S = 5.0

Fold = Callable[[str, int, "bytes | None"], None]  # (topic, partition, value)


def rebuilt_by_now(past_end_since: float | None, last_new: float, now: float, idle_s: float) -> bool:
    """The readiness rule (pure): past the reported end, and quiet for `idle_s` or past it for a while."""
    if past_end_since is None:
        return False
    return now - last_new >= idle_s or now - past_end_since >= STEADY_TRAFFIC_IDLE_PERIODS * idle_s


class LogTail:
    """Folds `topics` from offset 0 for as long as the process runs (no consumer group: every replica
    reads every partition); `rebuilt` is set once the state has read the log to its end (the rule above)."""

    def __init__(self, name: str, bootstrap: str, topics: Sequence[str], fold: Fold, idle_s: float,
                 on_rebuilt: Callable[[], None] = lambda: None) -> None:
        self.name, self.bootstrap, self.topics, self.idle_s = name, bootstrap, tuple(topics), idle_s
        self._fold, self._on_rebuilt = fold, on_rebuilt
        self.rebuilt = asyncio.Event()
        self.rebuild_seconds: float | None = None
        self._task: asyncio.Task | None = None
        self._stopping = False
        self.tail_lag = LagReporter(name.removesuffix("-log-tail"), "log-tail")
        # (topic, partition) → next offset folded: where a restarted tail (broker away) resumes, and what
        # a snapshot holds. Seeded from a restored snapshot; a partition not in it starts at 0.
        self.positions: Positions = {}
        self.snapshotter: Snapshotter | None = None
        self.snapshot_topics: frozenset[str] = frozenset(self.topics)  # what a snapshot covers

    def snapshot_positions(self) -> Positions:
        return {tp: offset for tp, offset in self.positions.items() if tp[0] in self.snapshot_topics}

    def start(self) -> None:
        self._task = asyncio.create_task(
            tail_from_start(self.bootstrap, self.name, self._fold_forever, lambda: self._stopping), name=self.name)

    async def stop(self) -> None:
        self._stopping = True
        with suppress(Exception):  # a tail that failed must not stop the shutdown
            await cancel_and_wait(self._task)

    async def _fold_forever(self, consumer: AIOKafkaConsumer) -> None:
        started = time.monotonic()
        await consumer.topics()
        tps = []
        for topic in self.topics:
            partitions = sorted(consumer.partitions_for_topic(topic) or ())
            if not partitions:  # not created yet (ENSURE_TOPICS=false and no KafkaTopic): retry, never "ready"
                raise RuntimeError(f"topic {topic} does not exist")
            tps += [TopicPartition(topic, p) for p in partitions]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        for tp in tps:
            resume_at = self.positions.setdefault((tp.topic, tp.partition), 0)
            if resume_at:
                consumer.seek(tp, resume_at)  # past the log end (a recreated topic): the consumer resets to 0
        reported_end = await consumer.end_offsets(tps)
        for tp in tps:
            self.tail_lag.record_applied(tp.topic, tp.partition, self.positions[(tp.topic, tp.partition)])
        self.tail_lag.record_log_end({(tp.topic, tp.partition): end for tp, end in reported_end.items()})
        last_new, past_end_since = time.monotonic(), None
        ends_asked = time.monotonic()
        while True:
            batches = await consumer.getmany(timeout_ms=200, max_records=5000)
            for tp, records in batches.items():
                for record in records:
                    self._fold(tp.topic, tp.partition, record.value)
                if records:
                    self.positions[(tp.topic, tp.partition)] = records[-1].offset + 1
                    self.tail_lag.record_applied(tp.topic, tp.partition, records[-1].offset + 1)
                    if self.snapshotter is not None:
                        self.snapshotter.folded(len(records))
            if batches:
                last_new = time.monotonic()
            if self.snapshotter is not None and self.rebuilt.is_set():
                await self.snapshotter.maybe_save(self.snapshot_positions())
            if time.monotonic() - ends_asked >= LOG_END_REFRESH_S:
                ends_asked = time.monotonic()
                ends = await consumer.end_offsets(tps)
                self.tail_lag.record_log_end({(tp.topic, tp.partition): end for tp, end in ends.items()})
            if self.rebuilt.is_set():
                continue
            if past_end_since is None:
                positions = {tp: await consumer.position(tp) for tp in tps}
                if all(positions[tp] >= reported_end[tp] for tp in tps):
                    past_end_since = time.monotonic()
            if rebuilt_by_now(past_end_since, last_new, time.monotonic(), self.idle_s):
                self.rebuild_seconds = time.monotonic() - started
                self._on_rebuilt()
                self.rebuilt.set()


class LogStateRuntime:
    """Lifecycle (`start`/`stop`), the tail that folds `topics`, `publish` and per-id `lock`s."""

    def __init__(self, name: str, topics: Sequence[str], bootstrap: str, delivery_timeout_ms: int,
                 rebuild_idle_s: float) -> None:
        self.name, self.bootstrap, self.delivery_timeout_ms = name, bootstrap, delivery_timeout_ms
        self.tail = LogTail(f"{name}-log-tail", bootstrap, topics, self.fold, rebuild_idle_s, self.on_rebuilt)
        self.rebuilt = self.tail.rebuilt
        self.publisher: Publisher | None = None
        self._stopping = False
        self._locks: dict[Hashable, asyncio.Lock] = {}
        self.stream_lag: LagReporter | None = None  # set by the service's faust app, when it runs one
        self.snapshotter: Snapshotter | None = None  # set by a service that snapshots its state

    @property
    def rebuild_seconds(self) -> float | None:
        return self.tail.rebuild_seconds

    # --- what a service supplies ----------------------------------------------------------------

    def fold(self, topic: str, partition: int, value: bytes | None) -> None:
        """Fold one record of a tail topic into the state (idempotent; a bad record is logged, not raised)."""
        raise NotImplementedError

    def on_rebuilt(self) -> None:
        """Called once, just before `rebuilt` is set (gauges, a log line)."""

    # --- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        self.publisher = await asyncio.to_thread(Publisher, self.bootstrap, self.delivery_timeout_ms, self.name)
        if self.snapshotter is not None:
            restored = await self.snapshotter.load()
            # only the topics the snapshot is meant to cover (a restored offset of another topic would skip it)
            self.tail.snapshot_topics = self.snapshot_topics
            self.tail.positions = {tp: offset for tp, offset in restored.items() if tp[0] in self.snapshot_topics}
            self.tail.snapshotter = self.snapshotter
        self.tail.start()

    async def stop(self) -> None:
        self._stopping = True
        await self.tail.stop()
        if self.snapshotter is not None:
            if self.rebuilt.is_set() and self.snapshotter.folded_since:
                with suppress(Exception):  # the next start replays a little more
                    await asyncio.wait_for(self.snapshotter.save(self.tail.snapshot_positions()), 10)
            await self.snapshotter.close()
        if self.publisher is not None:
            await asyncio.to_thread(self.publisher.close)

    @property
    def snapshot_topics(self) -> frozenset[str]:
        """The tail topics a snapshot covers; the others are always folded from offset 0: members' data
        keys never go into a snapshot (erasure destroys a key by its tombstone), and every erasure is
        applied again after a restore, so a snapshot never brings an erased member back."""
        return frozenset(self.tail.topics) - NEVER_SNAPSHOTTED

    # --- publishing -----------------------------------------------------------------------------

    async def publish(self, records: list[Record], retry: bool) -> None:
        """acks=all. `retry=False` (a request waiting for an answer): BrokerUnavailable at once (→ 503).
        `retry=True` (a stream decision that must not be lost): back off up to 5 s until the broker
        takes the records or the service stops."""
        assert self.publisher is not None, "runtime not started"
        delay = 0.2
        while True:
            try:
                await self.publisher.publish(records)
                return
            except BrokerUnavailable as exc:
                if not retry or self._stopping:
                    raise
                log.warning(f"{self.name}_publish_retry", error=str(exc), delay_s=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    # --- ids ------------------------------------------------------------------------------------

    def lock(self, key: Hashable) -> asyncio.Lock:
        """One lock per id (an invitation, an alert): two requests on the same id decide one after the other."""
        return self._locks.setdefault(key, asyncio.Lock())


def ready_when_rebuilt(bootstrap: str) -> Callable[[Request], Awaitable[bool]]:
    """`/readyz` of a log-state service: its state is rebuilt (app.state.runtime) and the broker answers."""

    async def ready(request: Request) -> bool:
        return request.app.state.runtime.rebuilt.is_set() and await broker_reachable(bootstrap)

    return ready
