"""The metrics stream's faust transport: after every rebalance, each assigned partition starts where
the worker's own state needs it (`ownership.Ownership`), not at the group's committed offset.

faust seeks every assigned partition to its committed offset once a rebalance is over
(`Consumer.perform_seek` → `seek_to_committed`, also when a fetch finds the flow stopped). This
consumer lets that happen, then seeks again to the offsets `app.start_offsets(assignment)` returns (a
partition this worker has just gained: its snapshot's offsets, or 0 to rebuild it from the log) and
reports them as the read positions, so faust's drain loop delivers from there.
"""

from __future__ import annotations

from collections.abc import Mapping

from services.common.faust_transport import DirectDeliveryConsumer, DirectDeliveryTransport


class OwnedPartitionsConsumer(DirectDeliveryConsumer):
    async def seek_to_committed(self) -> Mapping:
        committed = dict(await super().seek_to_committed())
        start_offsets = getattr(self.app, "start_offsets", None)
        if start_offsets is None:
            return committed
        starts = await start_offsets(self.assignment())
        for tp, offset in starts.items():
            await self._seek(tp, offset)
        committed.update(starts)
        return committed


class OwnedPartitionsTransport(DirectDeliveryTransport):
    Consumer = OwnedPartitionsConsumer
