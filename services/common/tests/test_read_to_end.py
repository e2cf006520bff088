"""Reading a topic to its end without waiting for it to go quiet: the dead-letter tool's `read_all` and
the tests' `read_topic` stop once every partition is past the end offsets read first (tansu reports the
last batch's base offset + 1) and a poll brings nothing more. Both are given a long idle here, so a read
that stopped early would miss records, and one that never used the end offsets would take that long."""

from __future__ import annotations

import asyncio
import time

from contracts.topics import Topic
from services.common.dlq.log import read_all
from services.common.kafka import Publisher, Record, ensure_topics
from testsupport.broker import read_topic


def test_both_readers_return_every_record_of_many_batches(broker):
    topic = Topic(f"test.read-to-end-{time.time_ns()}", "probe key", ("bytes",), "read-to-end test records",
                  partitions=3)
    ensure_topics(broker, [topic])
    sizes = [1, 1_200, 7, 300]  # one record, a batch longer than a poll returns (500), a short and a mid one
    sent = []

    async def write() -> None:
        publisher = Publisher(broker)
        for batch, size in enumerate(sizes):
            records = [Record(topic.name, f"k{i % 5}".encode(), f"{batch}:{i}".encode()) for i in range(size)]
            await publisher.publish(records)
            sent.extend(r.value for r in records)
        publisher.close()

    asyncio.run(write())
    dlq_read = read_all(broker, topic.name, idle_s=30)
    assert sorted(value for *_, value in dlq_read) == sorted(sent)
    assert sorted(r.value for r in read_topic(broker, topic.name, idle_s=60, timeout_s=120)) == sorted(sent)
