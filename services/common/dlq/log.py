"""Reading a topic to its end and writing replays (the tool's only Kafka I/O)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from kafka import KafkaConsumer, TopicPartition

from contracts.notifications import NotificationReplayed
from contracts.topics import NOTIFICATIONS_OUTBOUND
from services.common.kafka import Publisher, Record
from services.common.kafka_security import kafka_python_options


def read_all(
    bootstrap: str, topic: str, idle_s: float = 1.0, connect_timeout_s: float = 30.0, timeout_s: float = 120.0
) -> list[tuple[int, int, bytes | None, bytes | None]]:
    """Every record of `topic` as (partition, offset, key, value), without a consumer group. tansu
    answers ListOffsets with the last batch's base offset + 1, not the high watermark: reaching the end
    offsets read first only says that the last batch has begun to arrive. A fetch brings whole batches,
    so the read ends at the first poll without records once every partition is past its end offset
    (or, whatever the offsets say, once `idle_s` passes with nothing new). Raises LookupError for a
    topic the broker does not have, KafkaTimeoutError when no broker answers within `connect_timeout_s`."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, client_id="carecircle-dlq",
                             bootstrap_timeout_ms=int(connect_timeout_s * 1000),
                             **kafka_python_options())  # TLS + SCRAM from KAFKA_SECURITY_PROTOCOL & co.
    try:
        ids = consumer.partitions_for_topic(topic)
        if not ids:
            raise LookupError(f"topic {topic} does not exist on {bootstrap}")
        partitions = [TopicPartition(topic, p) for p in sorted(ids)]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        records: list[tuple[int, int, bytes | None, bytes | None]] = []
        deadline, last_new = time.monotonic() + timeout_s, time.monotonic()
        while time.monotonic() < deadline and time.monotonic() - last_new < idle_s:
            batches = consumer.poll(timeout_ms=100)
            for tp, batch in batches.items():
                records += [(tp.partition, r.offset, r.key, r.value) for r in batch]
            if batches:
                last_new = time.monotonic()
            elif all(consumer.position(tp) >= ends[tp] for tp in partitions):
                break
        return sorted(records, key=lambda r: (r[0], r[1]))
    finally:
        consumer.close()


def publish_replays(bootstrap: str, replays: Sequence[NotificationReplayed], on_sent=lambda: None,
                    connect_timeout_s: float = 30.0) -> None:
    """Write the replays to notifications.outbound (acks=all), keyed like the request they replay, so a
    replay lands on the partition (and notifier worker) of the original request."""

    async def run() -> None:
        publisher = await asyncio.to_thread(Publisher, bootstrap, 10_000, "carecircle-dlq",
                                            bootstrap_timeout_ms=int(connect_timeout_s * 1000))
        try:
            for replay in replays:
                await publisher.publish([Record(NOTIFICATIONS_OUTBOUND.name, replay.request.recipient.encode(),
                                                replay.model_dump_json().encode())])
                on_sent()
        finally:
            await asyncio.to_thread(publisher.close)

    asyncio.run(run())
