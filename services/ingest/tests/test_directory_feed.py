"""The member directory is read to its end although tansu reports end offsets one batch short, and
it becomes ready under steady traffic too: in wall-clock mode `clock.ticks` and enrolment bursts on
`members` need not ever go quiet (the survey's and notifier's test_rebuild, for ingest's tail)."""

import asyncio
import json
from datetime import datetime, timedelta, timezone
from uuid import uuid4

from contracts.topics import CLOCK_TICKS, MEMBERS
from services.common.kafka import Publisher, Record
from services.ingest.directory import Directory
from services.ingest.directory_feed import DirectoryFeed

START = datetime(2026, 11, 2, 9, tzinfo=timezone.utc)


def enrolments(members: range) -> list[Record]:
    return [Record(MEMBERS.name, f"m-{i}".encode(), json.dumps({
        "type": "member.enrolled", "event_id": str(uuid4()), "member_id": f"m-{i}", "cohort": "c-1",
        "timezone": "Asia/Shanghai", "enrolled_on": "2026-11-02", "occurred_at": "2026-11-01T00:00:00+00:00",
    }).encode()) for i in members]


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

    stop = asyncio.Event()

    async def steady_traffic():
        n = 0
        while not stop.is_set():
            n += 1
            await publisher.publish(tick(START + timedelta(minutes=n)))
            await asyncio.sleep(0.05)  # every 50 ms: never quiet for 0.3 s

    traffic = asyncio.create_task(steady_traffic())
    busy = DirectoryFeed(bootstrap, Directory(), idle_s=0.3)
    busy.start()
    try:
        await asyncio.wait_for(busy.ready.wait(), 30)
        assert len(busy.directory.members) == 30
    finally:
        stop.set()
        await traffic
        await busy.stop()
        publisher.close()
