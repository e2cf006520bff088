"""Snapshots of a stream service's state on its compacted topic (docs/scale.md, "Snapshots and restarts").

One `Snapshotter` per stateful part (the notifier's and the survey's log tails, the metrics stream):

* `load()` at start: the newest snapshot of the part's `scope`, checked (envelope contract, format,
  checksum, state shape) and restored into the state; returns the next offset of every input
  partition it covers, where the reader resumes. Missing, corrupt or incompatible: nothing is
  restored, the reader starts from offset 0 (the full replay), one JSON log line without member data
  and `carecircle_snapshot_fallbacks_total{service,reason}` + 1.
* `maybe_save(positions)` while running: every `every_records` folded records or `every_s` seconds
  (if anything was folded), the state and the positions it holds, as one record keyed by `scope`.
  The caller passes positions that the state has folded up to (the state may hold more: every fold
  is idempotent, so re-reading those records after a restore changes nothing).

Records are single, zlib-compressed values of at most `MAX_SNAPSHOT_BYTES` (the topic's
`max.message.bytes`); a larger state is not written (logged), and restarts replay in full.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import time
import zlib
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timezone
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from kafka.partitioner.default import murmur2
from pydantic import ValidationError

from contracts.snapshots import SNAPSHOT_FORMAT, ServiceSnapshot, SnapshotOffset
from contracts.topics import MAX_SNAPSHOT_BYTES, Topic

from .kafka import Publisher, Record, broker_reachable
from .kafka_security import aiokafka_options
from .logging import log
from .snapshot_codec import SnapshotError, StateCodec
from .telemetry import SNAPSHOT_BYTES, SNAPSHOT_FALLBACKS, SNAPSHOT_RESTORED_OFFSETS, SNAPSHOTS_WRITTEN

Positions = dict[tuple[str, int], int]  # (topic, partition) → next offset the state holds
# How long the snapshot producer may wait for the broker when it starts (kafka-python's default is 30 s;
# the 30 s delivery timeout is for the large record, not for finding the broker).
PRODUCER_START_TIMEOUT_MS = 5_000


# --- the record (pure) ------------------------------------------------------------------------------

def pack(service: str, scope: str, codec: StateCodec, state: Any, positions: Mapping[tuple[str, int], int],
         written_at: datetime) -> bytes:
    """The snapshot record's value for `state` holding `positions`."""
    return pack_tree(service, scope, codec.shape, codec.encode(state), positions, written_at)


def pack_tree(service: str, scope: str, shape: str, tree: Any, positions: Mapping[tuple[str, int], int],
              written_at: datetime) -> bytes:
    """The snapshot record's value for an encoded state (`StateCodec.encode`)."""
    compressed = zlib.compress(orjson.dumps(tree), 6)
    envelope = ServiceSnapshot(
        format=SNAPSHOT_FORMAT, service=service, scope=scope, state_version=shape, written_at=written_at,
        offsets=[SnapshotOffset(topic=t, partition=p, next_offset=o) for (t, p), o in sorted(positions.items())],
        state_sha256=hashlib.sha256(compressed).hexdigest(), state=base64.b64encode(compressed).decode())
    return envelope.model_dump_json().encode()


def unpack(value: bytes | None, service: str, scope: str, codec: StateCodec) -> tuple[Any, Positions, datetime]:
    """(state, positions, written_at) of a snapshot record, or SnapshotError(reason)."""
    if value is None:
        raise SnapshotError("missing", "tombstone")
    try:
        header = orjson.loads(value)
    except orjson.JSONDecodeError:
        raise SnapshotError("corrupt", "not JSON") from None
    if not isinstance(header, dict) or header.get("format") != SNAPSHOT_FORMAT:
        raise SnapshotError("incompatible", "unknown snapshot format")
    try:
        envelope = ServiceSnapshot.model_validate(header)
    except ValidationError:
        raise SnapshotError("corrupt", "envelope does not validate") from None
    if envelope.service != service or envelope.scope != scope:
        raise SnapshotError("incompatible", "snapshot of another service or scope")
    if envelope.state_version != codec.shape:
        raise SnapshotError("incompatible", "state shape changed since the snapshot was written")
    try:
        compressed = base64.b64decode(envelope.state, validate=True)
    except ValueError:
        raise SnapshotError("corrupt", "state is not base64") from None
    if hashlib.sha256(compressed).hexdigest() != envelope.state_sha256:
        raise SnapshotError("corrupt", "checksum mismatch")
    positions = {(o.topic, o.partition): o.next_offset for o in envelope.offsets}
    written_at = envelope.written_at
    del header, envelope  # the base64 text: peak memory is what a restore costs beyond the state
    try:
        tree = orjson.loads(zlib.decompress(compressed))
    except (zlib.error, orjson.JSONDecodeError):
        raise SnapshotError("corrupt", "state does not decompress") from None
    del compressed
    return codec.decode(tree, consume=True), positions, written_at  # the tree shrinks as the state grows


def key_partition(key: bytes, partitions: int) -> int:
    """Kafka's default partition of `key` (the producer's murmur2 partitioner)."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


# --- reading and writing --------------------------------------------------------------------------

async def read_newest(bootstrap: str, topic: Topic, key: bytes, timeout_s: float = 30.0) -> bytes | None:
    """The newest value under `key` (None: no record), read backwards from the log end in growing
    windows, so the time does not depend on how many snapshots the topic still holds."""
    return (await read_newest_of(bootstrap, topic, [key], timeout_s)).get(key)


async def read_newest_of(bootstrap: str, topic: Topic, keys: list[bytes],
                         timeout_s: float = 30.0) -> dict[bytes, bytes | None]:
    """The newest value under each of `keys` that has a record (one backwards read per topic partition)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                                fetch_max_bytes=MAX_SNAPSHOT_BYTES, max_partition_fetch_bytes=MAX_SNAPSHOT_BYTES,
                                request_timeout_ms=int(timeout_s * 1000), **aiokafka_options())
    await consumer.start()
    found: dict[bytes, bytes | None] = {}
    try:
        by_partition: dict[int, set[bytes]] = {}
        for key in keys:
            by_partition.setdefault(key_partition(key, topic.partitions), set()).add(key)
        for partition, wanted in by_partition.items():
            tp = TopicPartition(topic.name, partition)
            consumer.assign([tp])
            end = (await consumer.end_offsets([tp]))[tp]
            window, stop = 8, end
            while stop > 0 and not wanted <= found.keys():
                start = max(0, stop - window)
                newer = await _last_values_in(consumer, tp, wanted - found.keys(), start, stop)
                found.update(newer)
                stop, window = start, window * 4
        return found
    finally:
        await consumer.stop()


async def _last_values_in(consumer: AIOKafkaConsumer, tp: TopicPartition, keys: set[bytes], start: int,
                          stop: int) -> dict[bytes, bytes | None]:
    """The last record under each of `keys` at offsets [start, stop) and just past `stop` (tansu reports
    the log end one batch short: the rest of that batch is read too, until the log is quiet)."""
    consumer.seek(tp, start)
    found: dict[bytes, bytes | None] = {}
    while True:
        batches = await consumer.getmany(tp, timeout_ms=100)
        records = batches.get(tp, [])
        for record in records:
            if record.key in keys:
                found[record.key] = record.value
        if not records and await consumer.position(tp) >= stop:
            return found


class SharedPublisher:
    """One snapshot producer for several snapshotters of a process (opened at the first write)."""

    def __init__(self, bootstrap: str, client: str) -> None:
        self.bootstrap, self.client = bootstrap, client
        self._publisher: Publisher | None = None

    @property
    def opened(self) -> bool:
        return self._publisher is not None

    async def publish(self, records: list[Record]) -> None:
        if self._publisher is None:
            self._publisher = await asyncio.to_thread(Publisher, self.bootstrap, 30_000, self.client,
                                                      max_request_size=MAX_SNAPSHOT_BYTES + 1024,
                                                      bootstrap_timeout_ms=PRODUCER_START_TIMEOUT_MS)
        await self._publisher.publish(records)

    async def close(self) -> None:
        if self._publisher is not None:
            await asyncio.to_thread(self._publisher.close)
            self._publisher = None


class Snapshotter:
    def __init__(self, service: str, scope: str, topic: Topic, bootstrap: str, codec: StateCodec,
                 capture: Callable[[], Any], restore: Callable[[Any], None], every_records: int, every_s: float,
                 enabled: bool = True, publisher: SharedPublisher | None = None) -> None:
        self.service, self.scope, self.topic, self.bootstrap, self.codec = service, scope, topic, bootstrap, codec
        self.key = scope.encode()
        self._capture, self._restore = capture, restore
        self.every_records, self.every_s, self.enabled = every_records, every_s, enabled
        self.folded_since = 0
        self.saved_at = time.monotonic()
        self.restored: Positions = {}
        self._own_publisher = publisher is None
        self._publisher = publisher or SharedPublisher(bootstrap, f"{service}-snapshots")
        for reason in ("missing", "corrupt", "incompatible", "unreadable"):
            SNAPSHOT_FALLBACKS.labels(service, reason)  # exported at 0: an alert can tell "none yet" from "no series"

    # --- start --------------------------------------------------------------------------------

    async def load(self) -> Positions:
        """Restore the newest snapshot into the state; the positions to resume at ({}: from offset 0)."""
        if not self.enabled:
            return {}
        started = time.monotonic()
        try:
            value = await read_newest(self.bootstrap, self.topic, self.key)
        except Exception as exc:  # broker or topic trouble: replaying the log is always correct
            return self.fallback("unreadable", type(exc).__name__)
        return await self.restore_value(value, started)

    async def restore_value(self, value: bytes | None, started: float | None = None) -> Positions:
        """Restore the snapshot record `value` (None: there is none) read by the caller; as `load`."""
        started = time.monotonic() if started is None else started
        if value is None:
            return self.fallback("missing", "no snapshot yet")
        try:
            state, positions, written_at = await asyncio.to_thread(unpack, value, self.service, self.scope,
                                                                   self.codec)
            self._restore(state)
        except SnapshotError as exc:
            return self.fallback(exc.reason, str(exc))
        self.restored = positions
        SNAPSHOT_BYTES.labels(self.service).set(len(value))
        SNAPSHOT_RESTORED_OFFSETS.labels(self.service).set(sum(positions.values()))
        log.info("snapshot_restored", service=self.service, scope=self.scope, bytes=len(value),
                 written_at=written_at.isoformat(), records_skipped=sum(positions.values()),
                 seconds=round(time.monotonic() - started, 3))
        return positions

    def fallback(self, reason: str, detail: str) -> Positions:
        """Nothing restored: the reader starts from offset 0 (logged and counted)."""
        SNAPSHOT_FALLBACKS.labels(self.service, reason).inc()
        SNAPSHOT_RESTORED_OFFSETS.labels(self.service).set(0)
        log.warning("snapshot_fallback_full_replay", service=self.service, scope=self.scope, reason=reason,
                    detail=detail)
        return {}

    # --- while running ------------------------------------------------------------------------

    def folded(self, records: int) -> None:
        self.folded_since += records

    def due(self, now: float) -> bool:
        if not self.enabled or self.folded_since == 0:
            return False
        return self.folded_since >= self.every_records or now - self.saved_at >= self.every_s

    async def maybe_save(self, positions: Mapping[tuple[str, int], int]) -> bool:
        if not self.due(time.monotonic()):
            return False
        return await self.save(positions)

    async def save(self, positions: Mapping[tuple[str, int], int],
                   ready: Callable[[], Awaitable[bool]] | None = None) -> bool:
        """Write the state as it is now, holding `positions`; False (logged) when it could not be.
        `ready`: awaited after the state is captured and before it is written; False defers the write
        (the metrics stream waits until what the captured state published is acknowledged)."""
        if not self.enabled:  # SNAPSHOTS_ENABLED=0 writes nothing, not even at a clean stop
            return False
        if not await broker_reachable(self.bootstrap):
            # A snapshot only shortens the next start. Without a broker, starting a producer would
            # hold the caller (a stop during an outage) for the producer's whole bootstrap wait.
            self.saved_at = time.monotonic()  # the next try after `every_s`, not at every record
            log.warning("snapshot_write_failed", service=self.service, error="BrokerUnreachable")
            return False
        self.saved_at, folded, self.folded_since = time.monotonic(), self.folded_since, 0
        try:
            tree = self.codec.encode(self._capture())  # on the loop: nothing folds meanwhile
        except TypeError as exc:  # a state the codec does not know: a bug, never a crash of the service
            log.error("snapshot_not_encodable", service=self.service, error=str(exc))
            return False
        value = await asyncio.to_thread(pack_tree, self.service, self.scope, self.codec.shape, tree, dict(positions),
                                        datetime.now(timezone.utc))
        if ready is not None and not await ready():
            self.folded_since += folded  # try again at the next chance
            log.warning("snapshot_deferred", service=self.service, scope=self.scope)
            return False
        if len(value) > MAX_SNAPSHOT_BYTES:
            log.warning("snapshot_too_large", service=self.service, bytes=len(value), limit=MAX_SNAPSHOT_BYTES)
            return False
        try:
            await self._publisher.publish([Record(self.topic.name, self.key, value)])
        except Exception as exc:  # BrokerUnavailable, or the producer could not start
            self.folded_since += folded  # try again at the next chance
            log.warning("snapshot_write_failed", service=self.service, error=type(exc).__name__)
            return False
        SNAPSHOTS_WRITTEN.labels(self.service).inc()
        SNAPSHOT_BYTES.labels(self.service).set(len(value))
        log.info("snapshot_written", service=self.service, scope=self.scope, bytes=len(value),
                 records_folded=folded, next_offsets=sum(positions.values()))
        return True

    async def close(self) -> None:
        if self._own_publisher:
            await self._publisher.close()
