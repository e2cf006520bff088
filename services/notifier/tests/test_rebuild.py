"""The notifier's state is rebuilt from its topics completely although tansu reports end offsets one
batch short, and it becomes ready under steady traffic too: `engagement.events`, the busiest topic,
is never quiet while members use the app (the survey's test_rebuild, ported)."""

import asyncio
import json
from datetime import datetime, timedelta, timezone
from uuid import uuid4

from contracts.topics import ENGAGEMENT_EVENTS
from services.common.kafka import Publisher, Record
from services.notifier.runtime import NotifierRuntime
from services.notifier.settings import NotifierSettings
from testsupport.records import enrolments
from testsupport.traffic import steady_traffic

START = datetime(2026, 11, 2, 9, tzinfo=timezone.utc)


def logins(members: range, at: datetime) -> list[Record]:
    return [Record(ENGAGEMENT_EVENTS.name, f"m-{i}".encode(), json.dumps({
        "type": "login", "event_id": str(uuid4()), "member_id": f"m-{i}", "occurred_at": at.isoformat(),
        "received_at": at.isoformat(), "payload": {},
    }).encode()) for i in members]


async def test_rebuild_reads_past_the_short_end_offsets_and_under_steady_traffic(own_broker, jwt_secret, tmp_path):
    _, bootstrap = own_broker
    publisher = Publisher(bootstrap)
    for batch in range(3):  # three produce calls: several record batches per partition
        await publisher.publish(enrolments(range(batch * 10, batch * 10 + 10)))
        await publisher.publish(logins(range(batch * 10, batch * 10 + 10), START))
    settings = NotifierSettings(kafka_bootstrap=bootstrap, jwt_secret=jwt_secret, rebuild_idle_s=0.3,
                                faust_datadir=str(tmp_path))

    runtime = NotifierRuntime(settings)
    await runtime.start()
    try:
        await asyncio.wait_for(runtime.rebuilt.wait(), 30)
        assert len(runtime.state.members) == 30  # none missing
        assert len(runtime.state.last_activity) == 30
    finally:
        await runtime.stop()

    # A record every 50 ms (the helper's default): the log is never quiet for 0.3 s.
    busy = NotifierRuntime(settings)
    async with steady_traffic(publisher, lambda n: logins(range(n % 30, n % 30 + 1), START + timedelta(minutes=n))):
        await busy.start()
        try:
            await asyncio.wait_for(busy.rebuilt.wait(), 30)
            assert len(busy.state.members) == 30
        finally:
            await busy.stop()
    publisher.close()
