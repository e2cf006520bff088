"""Helpers for tests that run against the real broker (no fakes)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from kafka import KafkaConsumer, TopicPartition


@dataclass(frozen=True)
class ConsumedRecord:
    partition: int
    offset: int
    key: bytes | None
    value: bytes


def read_topic(bootstrap: str, topic: str, expect_at_least: int = 0, timeout_s: float = 15.0,
               idle_s: float = 0.7) -> list[ConsumedRecord]:
    """Every record of `topic` from offset 0, without a consumer group (joins are slow on tansu).

    tansu's ListOffsets answers the base offset of the last batch + 1 instead of the high watermark,
    so end offsets cannot say when the log is read: read until `idle_s` passes with no new record
    and at least `expect_at_least` records are in, or `timeout_s` passes."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        records: list[ConsumedRecord] = []
        deadline, last_new = time.monotonic() + timeout_s, time.monotonic()
        while time.monotonic() < deadline:
            batches = consumer.poll(timeout_ms=100)
            for tp, batch in batches.items():
                records += [ConsumedRecord(tp.partition, r.offset, r.key, r.value) for r in batch]
            if batches:
                last_new = time.monotonic()
            elif len(records) >= expect_at_least and time.monotonic() - last_new >= idle_s:
                break
        return sorted(records, key=lambda r: (r.partition, r.offset))
    finally:
        consumer.close()
