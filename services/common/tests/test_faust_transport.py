"""The direct-delivery faust transport: every record reaches the agent, in partition order, also when
the stream buffer is full; a suspended flow still stops delivery as in stock faust."""

import asyncio
import time

from contracts.topics import Topic
from services.common.faust_transport import BoundedStopConsumerThread, DirectDeliveryConsumer
from services.common.kafka import Publisher, Record, ensure_topics
from services.common.settings import CommonSettings
from services.common.stream import catalogue_topic, faust_app_running, make_faust_app

# A topic of its own: the catalogue topics of the shared test broker hold only contract records.
PROBE = Topic("test.faust-direct-delivery", "probe key", ("bytes",), "direct-delivery test records")


def _app(broker: str, tmp_path, **overrides):
    settings = CommonSettings(kafka_bootstrap=broker, jwt_secret="x" * 32, faust_datadir=str(tmp_path))
    return make_faust_app(f"direct-{time.time_ns()}", settings, **overrides)


async def test_every_record_arrives_in_partition_order_through_a_full_buffer(broker, tmp_path):
    marker = f"direct-{time.time_ns()}"
    keys = [f"{marker}-{k}".encode() for k in range(12)]
    sent = {key: [f"{key.decode()}:{i}".encode() for i in range(250)] for key in keys}
    ensure_topics(broker, [PROBE])
    publisher = Publisher(broker)
    await publisher.publish([Record(PROBE.name, key, values[i]) for i in range(250)
                             for key, values in sent.items()])
    publisher.close()

    app = _app(broker, tmp_path, stream_buffer_maxsize=8)  # the agent is slower than the fetcher: deliveries wait
    received: dict[bytes, list[bytes]] = {key: [] for key in keys}

    @app.agent(catalogue_topic(app, PROBE))
    async def collect(stream):
        async for key, value in stream.items():
            if key in received:
                received[key].append(value)
                await asyncio.sleep(0.0005 if len(received[key]) % 10 == 0 else 0)

    async with faust_app_running(app):
        assert isinstance(app.consumer, DirectDeliveryConsumer)
        deadline = time.monotonic() + 90
        while sum(map(len, received.values())) < 3000 and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        await asyncio.sleep(1)  # nothing more may arrive
    assert received == sent


async def test_a_suspended_flow_is_not_bypassed(tmp_path):
    consumer = _app("127.0.0.1:1", tmp_path).consumer  # constructed only: nothing connects
    done = []

    async def deliver(value):
        await asyncio.sleep(0.2)
        done.append(value)
        return value

    flowing = await consumer.wait_first(deliver("a"), consumer.suspend_flow.wait())
    assert (flowing.results, flowing.stopped, done) == (["a"], False, ["a"])

    consumer.suspend_flow.set()  # a rebalance began: faust's own wait returns without delivering
    suspended = await asyncio.wait_for(consumer.wait_first(deliver("b"), consumer.suspend_flow.wait()), 0.1)
    assert suspended.results == [True]  # the suspension won
    await asyncio.sleep(0.3)
    assert done == ["a"]  # and "b" was abandoned, to be fetched again after the rebalance


def test_the_consumer_thread_stops_without_waiting_for_an_unreachable_broker(tmp_path):
    # The behaviour itself is proven against a real broker outage in tests/faults/test_broker_outage.py.
    consumer = _app("127.0.0.1:1", tmp_path).consumer  # constructed only: nothing connects
    assert isinstance(consumer._thread, BoundedStopConsumerThread)
