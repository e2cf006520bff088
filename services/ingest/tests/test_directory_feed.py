"""The member directory is read to its end although tansu reports end offsets one batch short, and
it becomes ready under steady traffic too: in wall-clock mode `clock.ticks` and enrolment bursts on
`members` need not ever go quiet (the survey's and notifier's test_rebuild, for ingest's tail)."""

import asyncio
import json
from datetime import datetime, timedelta, timezone
from uuid import uuid4

from contracts.topics import CLOCK_TICKS
from services.common.kafka import Publisher, Record
from services.ingest.directory import Directory
from services.ingest.directory_feed import DirectoryFeed
from testsupport.records import enrolments
from testsupport.traffic import steady_traffic

START = datetime(2026, 11, 2, 9, tzinfo=timezone.utc)


def tick(now: datetime) -> list[Record]:
    return [Record(CLOCK_TICKS.name, b"clock", json.dumps({
        "type": "clock.tick", "event_id": str(uuid4()), "now": now.isoformat()}).encode(), partition=0)]


async def test_directory_reads_past_the_short_end_offsets_and_under_steady_traffic(own_broker):
    _, bootstrap = own_broker
    publisher = Publisher(bootstrap)
    for batch in range(3):  # three produce calls: several record batches per partition
        await publisher.publish(enrolments(range(batch * 10, batch * 10 + 10)))

    quiet = DirectoryFeed(bootstrap, Directory(), idle_s=0.3)
    quiet.start()
    try:
        await asyncio.wait_for(quiet.ready.wait(), 30)
        assert len(quiet.directory.members) == 30  # none missing
    finally:
        await quiet.stop()

    # A record every 50 ms (the helper's default): the log is never quiet for 0.3 s.
    busy = DirectoryFeed(bootstrap, Directory(), idle_s=0.3)
    async with steady_traffic(publisher, lambda n: tick(START + timedelta(minutes=n))):
        busy.start()
        try:
            await asyncio.wait_for(busy.ready.wait(), 30)
            assert len(busy.directory.members) == 30
        finally:
            await busy.stop()
    publisher.close()
