"""faust's Kafka transport with one change: records are delivered to the streams without four
tasks each.

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
"""

from __future__ import annotations

import asyncio
from typing import Any

import faust
from faust.transport.drivers import aiokafka as aiokafka_driver
from mode.services import WaitResults


class DirectDeliveryConsumer(aiokafka_driver.Consumer):
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
