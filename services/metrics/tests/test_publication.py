"""engagement.daily publication: in order, latest state per key, retried through an outage; and,
against the real broker, what the topic holds is the state's latest member-days."""

import asyncio

from contracts.topics import Topic
from services.common.kafka import BrokerUnavailable, Publisher, Record, ensure_topics
from services.metrics.publication import DailyPublication
from testsupport.broker import read_topic


class FlakyPublisher:
    """Refuses the first `failures` sends (as during a broker outage), then records every batch."""

    def __init__(self, failures: int = 0) -> None:
        self.failures, self.batches = failures, []
        self.gate = asyncio.Event()
        self.gate.set()

    async def publish(self, records):
        await self.gate.wait()
        if self.failures:
            self.failures -= 1
            raise BrokerUnavailable("broker down")
        self.batches.append([(r.key, r.value) for r in records])

    def close(self) -> None:
        pass


def _r(key: str, value: str) -> Record:
    return Record("engagement.daily", key.encode(), value.encode())


async def test_queued_batches_leave_together_with_each_key_in_its_latest_state():
    fake = FlakyPublisher()
    publication = DailyPublication(lambda: fake)
    runner = asyncio.create_task(publication.run())
    fake.gate.clear()  # the first batch waits for its acknowledgement …
    await publication.put([_r("a|d1", "1"), _r("b|d1", "1")])
    await asyncio.sleep(0.05)
    await publication.put([_r("a|d1", "2")])  # … while the state moves on
    await publication.put([_r("c|d1", "1"), _r("a|d1", "3")])
    fake.gate.set()
    await asyncio.wait_for(publication.flushed(), 5)
    runner.cancel()
    assert fake.batches == [[(b"a|d1", b"1"), (b"b|d1", b"1")], [(b"a|d1", b"3"), (b"c|d1", b"1")]]


async def test_a_mark_is_acknowledged_only_once_everything_put_before_it_is():
    fake = FlakyPublisher()
    publication = DailyPublication(lambda: fake)
    runner = asyncio.create_task(publication.run())
    fake.gate.clear()
    await publication.put([_r("a|d1", "1")])
    mark = publication.mark()
    assert not await publication.acknowledged(mark, timeout_s=0.2)  # still waiting for the broker
    fake.gate.set()
    assert await publication.acknowledged(mark, timeout_s=5)
    runner.cancel()


async def test_an_outage_delays_publication_and_loses_nothing():
    fake = FlakyPublisher(failures=2)
    publication = DailyPublication(lambda: fake, max_batches=1)
    runner = asyncio.create_task(publication.run())
    await publication.put([_r("a|d1", "1")])
    await publication.put([_r("b|d1", "1")])  # waits: the queue holds one batch during the outage
    await asyncio.wait_for(publication.flushed(), 10)
    runner.cancel()
    assert fake.batches == [[(b"a|d1", b"1")], [(b"b|d1", b"1")]]


async def test_the_topic_holds_the_latest_state_of_every_key(broker):
    # a topic of its own: the shared broker's engagement.daily holds only contract records
    topic = Topic(
        "test.daily-publication", "member_id|YYYY-MM-DD", ("bytes",), "publication test records", compacted=True
    )
    ensure_topics(broker, [topic])
    marker = f"pub-{asyncio.get_running_loop().time()}"
    publication = DailyPublication(lambda: Publisher(broker, 10_000, "metrics-test"))
    runner = asyncio.create_task(publication.run())
    for version in range(5):
        await publication.put([Record(topic.name, f"{marker}-{m}|2026-09-01".encode(), f"v{version}".encode())
                               for m in range(40)])
    await asyncio.wait_for(publication.flushed(), 30)
    runner.cancel()
    await publication.close()
    latest = {}
    for record in read_topic(broker, topic.name):
        if record.key.decode().startswith(marker):
            latest[record.key] = record.value
    assert latest == {f"{marker}-{m}|2026-09-01".encode(): b"v4" for m in range(40)}
