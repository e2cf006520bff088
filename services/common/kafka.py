"""Kafka plumbing over kafka-python: topic creation from the catalogue, an acks=all idempotent
producer whose deliveries can be awaited from asyncio, and a broker reachability probe."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer
from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import KafkaError, KafkaTimeoutError, TopicAlreadyExistsError
from kafka.partitioner.default import murmur2

from contracts.topics import Topic

from .kafka_security import aiokafka_options, kafka_python_options
from .logging import log
from .settings import RetentionSettings


class BrokerUnavailable(RuntimeError):
    """The broker did not acknowledge a write in time; nothing may be reported as stored."""


def ensure_topics(bootstrap: str, topics: Iterable[Topic] | None = None, timeout_s: float = 60.0) -> list[str]:
    """Create the catalogue topics that are missing (idempotent); waits for the broker up to `timeout_s`.
    Without `topics`: the catalogue with the retention the environment sets (KAFKA_RETENTION_*)."""
    if topics is None:
        topics = RetentionSettings().catalogue()
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000, **kafka_python_options())
            break
        except KafkaError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    try:
        existing = set(admin.list_topics())
        missing = [t for t in topics if t.name not in existing]
        for topic in missing:  # one by one: a concurrent creator makes only its topic fail
            try:
                admin.create_topics([NewTopic(topic.name, topic.partitions, 1, topic_configs=topic.kafka_configs())])
            except TopicAlreadyExistsError:
                pass
        if missing:
            log.info("topics_created", topics=[t.name for t in missing])
        return [t.name for t in missing]
    finally:
        admin.close()


async def tail_from_start(bootstrap: str, client_id: str, fold: Callable[[AIOKafkaConsumer], Awaitable[None]],
                          stopping: Callable[[], bool]) -> None:
    """Run `fold` on a group-less consumer (it assigns and seeks itself) until `stopping()`; when the
    broker goes away, start over with a new consumer a second later (folds must be idempotent)."""
    while not stopping():
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                                    auto_offset_reset="earliest", client_id=client_id, **aiokafka_options())
        try:
            await consumer.start()
            await fold(consumer)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("log_tail_restart", tail=client_id, error=repr(exc))
            await asyncio.sleep(1.0)
        finally:
            await consumer.stop()


async def broker_reachable(bootstrap: str, timeout_s: float = 1.0) -> bool:
    """True when a TCP connection to any bootstrap server opens within `timeout_s`."""
    for server in bootstrap.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port)), timeout_s)
        except (OSError, asyncio.TimeoutError):
            continue
        writer.close()
        return True
    return False


@dataclass(frozen=True)
class Record:
    topic: str
    key: bytes
    value: bytes | None  # None: a tombstone (a compacted topic drops the key)
    partition: int | None = None


class _Countdown:
    """Resolves one asyncio future when every kafka-python delivery future of a batch has resolved,
    so a 500-event batch wakes the event loop once instead of 500 times."""

    def __init__(self, loop: asyncio.AbstractEventLoop, count: int) -> None:
        self.loop, self.remaining, self.lock = loop, count, threading.Lock()
        self.future: asyncio.Future[None] = loop.create_future()
        self.error: BaseException | None = None

    def _done(self, error: BaseException | None) -> None:
        with self.lock:
            self.remaining -= 1
            if error is not None and self.error is None:
                self.error = error
            finished = self.remaining == 0
        if finished:
            self.loop.call_soon_threadsafe(self._resolve)

    def _resolve(self) -> None:
        if not self.future.done():
            if self.error is None:
                self.future.set_result(None)
            else:
                self.future.set_exception(BrokerUnavailable(str(self.error)))

    def ok(self, _metadata) -> None:
        self._done(None)

    def failed(self, error: BaseException) -> None:
        self._done(error)


def producer_config(bootstrap: str, delivery_timeout_ms: int = 5_000, client_id: str = "carecircle") -> dict:
    """The one producer configuration (also used by the benchmark's bare-producer baseline)."""
    return dict(
        bootstrap_servers=bootstrap,
        client_id=client_id,
        acks="all",
        enable_idempotence=True,
        linger_ms=2,
        batch_size=256 * 1024,
        max_block_ms=delivery_timeout_ms,
        request_timeout_ms=max(delivery_timeout_ms - 1_000, 1_000),
        delivery_timeout_ms=delivery_timeout_ms,
        **kafka_python_options(),
    )


class Publisher:
    """acks=all, idempotent kafka-python producer. `publish` returns only after the broker has
    acknowledged every record, or raises BrokerUnavailable."""

    def __init__(self, bootstrap: str, delivery_timeout_ms: int = 5_000, client_id: str = "carecircle",
                 prepare: Callable[[], object] | None = None, **overrides: object) -> None:
        self.delivery_timeout_s = delivery_timeout_ms / 1000
        # overrides: e.g. the snapshot writer's larger max_request_size (services/common/snapshots.py)
        self._config = producer_config(bootstrap, delivery_timeout_ms, client_id) | overrides
        self._prepare = prepare  # run before a replacement producer starts (e.g. create topics on a dev broker)
        self._producer = KafkaProducer(**self._config)
        self._failed_at: float | None = None
        self._replace_lock = asyncio.Lock()
        self._partitions: dict[tuple[str, int, bytes], int] = {}

    def _send_all(self, records: Sequence[Record], countdown: _Countdown) -> None:
        partitions: dict[str, list[int] | None] = {}  # per topic, once per request
        for sent, record in enumerate(records):
            partition = record.partition
            if partition is None and record.key is not None:
                if record.topic not in partitions:
                    known = self._producer._metadata.partitions_for_topic(record.topic)
                    partitions[record.topic] = sorted(known) if known else None
                partition = self._partition(record.topic, record.key, partitions[record.topic])
            try:
                future = self._producer.send(record.topic, key=record.key, value=record.value, partition=partition)
            except KafkaError as exc:  # metadata unavailable: the broker is down
                for _ in range(len(records) - sent):
                    countdown.failed(exc)
                return
            future.add_callback(countdown.ok).add_errback(countdown.failed)

    async def publish(self, records: Sequence[Record]) -> None:
        if not records:
            return
        if self._failed_at is not None:
            await self._replace_producer()
        countdown = _Countdown(asyncio.get_running_loop(), len(records))
        if self._metadata_known(records):
            # send() only appends to the accumulator: cheaper inline than a thread hop.
            self._send_all(records, countdown)
        else:
            # send() blocks up to max_block_ms waiting for metadata (e.g. broker down): keep it off the loop.
            await asyncio.to_thread(self._send_all, records, countdown)
        try:
            await asyncio.wait_for(countdown.future, self.delivery_timeout_s + 2)
        except asyncio.TimeoutError:
            self._failed_at = time.monotonic()
            raise BrokerUnavailable("no acknowledgement within the delivery timeout") from None
        except BrokerUnavailable:
            self._failed_at = time.monotonic()
            raise

    async def _replace_producer(self) -> None:
        """After a failed delivery the idempotent producer's id/epoch may be unknown to the broker (a
        restarted broker answers UnknownProducerId for ever): start a new producer, at most once a second."""
        async with self._replace_lock:
            if self._failed_at is None:  # another request replaced it meanwhile
                return
            if time.monotonic() - self._failed_at < 1.0:
                raise BrokerUnavailable("broker recently unavailable; retrying shortly")
            await asyncio.to_thread(self._replace)

    def _replace(self) -> None:
        try:
            if self._prepare is not None:
                self._prepare()
            fresh = KafkaProducer(**self._config)
        except KafkaError as exc:
            self._failed_at = time.monotonic()
            raise BrokerUnavailable(f"broker still unavailable: {exc}") from None
        old, self._producer, self._failed_at = self._producer, fresh, None
        old.close(timeout=0)
        log.info("producer_replaced")

    def _partition(self, topic: str, key: bytes, partitions: list[int] | None) -> int | None:
        """Kafka's default key partitioning (murmur2, as kafka-python's DefaultPartitioner), remembered
        per key: kafka-python recomputes it in pure Python for every record, and one member sends many.
        None while the topic's metadata is unknown: send() then waits for it and partitions by itself."""
        if not partitions:
            return None
        cache_key = (topic, len(partitions), key)
        partition = self._partitions.get(cache_key)
        if partition is None:
            if len(self._partitions) > 200_000:
                self._partitions.clear()
            partition = self._partitions[cache_key] = partitions[(murmur2(key) & 0x7FFFFFFF) % len(partitions)]
        return partition

    def _metadata_known(self, records: Sequence[Record]) -> bool:
        cluster = self._producer._metadata  # kafka-python keeps no public non-blocking accessor
        return all(cluster.partitions_for_topic(topic) for topic in {r.topic for r in records})

    def partitions_for(self, topic: str) -> int:
        try:
            partitions = self._producer.partitions_for(topic)
        except KafkaTimeoutError as exc:
            raise BrokerUnavailable(str(exc)) from None
        if not partitions:
            raise BrokerUnavailable(f"topic {topic} has no partitions")
        return len(partitions)

    def close(self, timeout_s: float = 5.0) -> None:
        self._producer.close(timeout=timeout_s)
