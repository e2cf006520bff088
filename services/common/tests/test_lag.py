"""The lag each service publishes itself (services.common.lag): pure bookkeeping, real gauges."""

from prometheus_client import REGISTRY

from services.common.lag import LagReporter, lag_of


def gauge(name: str, **labels) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


def test_lag_is_log_end_minus_applied_and_never_negative():
    assert lag_of(10, 4) == 6
    assert lag_of(10, 12) == 0  # tansu's end offsets are one batch short: applied may pass them


def test_reporter_mirrors_the_gauges_and_forgets_moved_partitions():
    reporter = LagReporter("unit", "stream")
    labels = dict(service="unit", consumer="stream", topic="t", partition="3")
    reporter.record_log_end({("t", 3): 100})
    assert gauge("carecircle_consumer_lag_records", **labels) == 100  # nothing applied yet
    reporter.record_applied("t", 3, 60)
    assert gauge("carecircle_consumer_lag_records", **labels) == 40
    assert gauge("carecircle_consumer_applied_offset", **labels) == 60
    reporter.record_applied("t", 3, 50)  # a re-delivered older record moves nothing back
    assert gauge("carecircle_consumer_applied_offset", **labels) == 60
    reporter.record_applied("t", 3, 130)  # past the last reported end
    assert gauge("carecircle_consumer_lag_records", **labels) == 0
    assert reporter.lag() == {("t", 3): 0}
    reporter.forget([("t", 3)])  # a rebalance moved the partition away: the series disappears
    assert gauge("carecircle_consumer_lag_records", **labels) is None
    assert reporter.lag() == {}


async def test_a_log_tail_on_the_real_broker_reports_what_it_applied(broker):
    """Against tansu: the tail's applied offsets reach the number of records written per partition, and
    its lag is 0 then, although tansu reports end offsets one batch short."""
    import asyncio
    import uuid

    from contracts.topics import Topic
    from services.common.kafka import Publisher, Record, ensure_topics
    from services.common.logstate import LogTail

    topic = Topic(f"lag-test-{uuid.uuid4().hex[:8]}", "k", ("x",), "lag test", partitions=3)
    ensure_topics(broker, [topic])
    publisher = Publisher(broker)
    for batch in range(3):  # several record batches per partition
        await publisher.publish([Record(topic.name, f"k{i}".encode(), b"{}", partition=i % 3) for i in range(30)])
    folded: list[tuple[str, int]] = []
    tail = LogTail("unit-log-tail", broker, [topic.name], lambda t, p, v: folded.append((t, p)), idle_s=0.3)
    tail.start()
    try:
        await asyncio.wait_for(tail.rebuilt.wait(), 30)
        assert len(folded) == 90
        assert tail.tail_lag.applied == {(topic.name, p): 30 for p in range(3)}
        assert set(tail.tail_lag.lag().values()) == {0}
        assert gauge("carecircle_consumer_applied_offset", service="unit", consumer="log-tail",
                     topic=topic.name, partition="1") == 30
    finally:
        await tail.stop()
        publisher.close()
