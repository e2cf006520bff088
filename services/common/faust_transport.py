"""faust's Kafka transport with two changes: records are delivered to the streams without four
tasks each, and the consumer thread stops at once when the broker is gone (below).

faust's drain loop hands every fetched record over with
`wait_first(deliver(record), suspend_flow.wait())`: mode's `wait_first` wraps both, plus the service's
stopped and crashed events, in tasks and runs `asyncio.wait` — per record. Measured here
(`python -m bench.metrics_faust_floor`), that is half of faust's own cost: an agent that only counts
records runs about twice as fast without it (figures: bench/results.md, "faust throughput work").

While flow is not suspended, this consumer awaits the delivery directly. The difference only shows
when flow gets suspended (a rebalance) DURING a delivery that waits (a full stream buffer): faust
abandons that record; here it reaches the stream once flow resumes, and the stream skips it because
it carries the previous consumer generation (faust's `Stream._c_aiter` drops such records), so the
partition's new owner fetches it again from the committed offset — the same outcome.

Its consumer thread also stops within moments when the broker is gone (`BoundedStopConsumerThread`).
"""

from __future__ import annotations

import asyncio
from typing import Any

import faust
from faust.transport.drivers import aiokafka as aiokafka_driver
from mode.services import WaitResults

from .logging import log


class BoundedStopConsumerThread(aiokafka_driver.AIOKafkaConsumerThread):
    """faust's consumer thread, with a stop that does not hang when the broker is unreachable.

    With the broker gone, aiokafka's fetcher keeps a fetch task sleeping its retry back-off. Its
    `close()` cancels that task and awaits it without catching the cancellation, so
    `AIOKafkaConsumer.stop()` raises CancelledError. The thread then dies before it reports its
    shutdown, and the service's stop waited mode's full `shutdown_timeout` (60 s) for it: every
    SIGTERM during a broker outage cost a minute (in Kubernetes, a SIGKILL at the grace period).
    Here that stray cancellation ends the consumer's stop; the client's connections are still closed."""

    async def on_thread_stop(self) -> None:
        try:
            await super().on_thread_stop()
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise  # the thread itself is being cancelled: not the fetcher's stray cancellation
            log.warning("kafka_consumer_stop_interrupted", reason="a fetch retry was cancelled during close")
            if self._consumer is not None:
                await self._consumer._client.close()  # what AIOKafkaConsumer.stop() would have done next


class DirectDeliveryConsumer(aiokafka_driver.Consumer):
    def _new_consumer_thread(self) -> BoundedStopConsumerThread:
        return BoundedStopConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def wait_first(self, *coros: Any, timeout: Any = None) -> WaitResults:
        flowing = not (self.suspend_flow.is_set() or self._stopped.is_set() or self._crashed.is_set())
        # The drain loop's call: (deliver(record), suspend_flow.wait()), both coroutines, no timeout.
        if flowing and timeout is None and len(coros) == 2 and all(map(asyncio.iscoroutine, coros)):
            deliver, suspended = coros
            suspended.close()  # never awaited: close it so it is not reported as forgotten
            return WaitResults([deliver], [await deliver], False)
        return await super().wait_first(*coros, timeout=timeout)


class DirectDeliveryTransport(aiokafka_driver.Transport):
    Consumer = DirectDeliveryConsumer


def use_direct_delivery(app: faust.App, transport: type[DirectDeliveryTransport] = DirectDeliveryTransport) -> None:
    """Give `app` the direct-delivery transport, or a subclass of it (before the app starts)."""
    app.transport = transport(app.conf.broker_consumer, app)
