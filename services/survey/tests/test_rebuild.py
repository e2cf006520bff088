"""The book is rebuilt from `surveys` completely although tansu reports end offsets one batch short,
and it becomes ready under steady traffic too (the log is never quiet)."""

import asyncio
from datetime import date, datetime, timezone
from uuid import uuid4

from aiokafka import AIOKafkaConsumer, TopicPartition

from contracts.members import MemberEnrolled
from contracts.surveys import SurveyPlan
from services.common.kafka import Publisher
from services.survey.runtime import SurveyRuntime, records_for
from services.survey.schedule import schedule
from services.survey.settings import SurveySettings
from testsupport.traffic import steady_traffic


def scheduled_records(members: int, start: int = 0):
    events = []
    for i in range(start, start + members):
        enrolment = MemberEnrolled(event_id=uuid4(), member_id=f"m-{i}", cohort="c-1", timezone="Asia/Shanghai",
                                   enrolled_on=date(2026, 11, 2), occurred_at=datetime(2026, 11, 1, tzinfo=timezone.utc))
        events += schedule(enrolment, SurveyPlan())
    return records_for(events)


async def reported_end(bootstrap: str) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        tps = [TopicPartition("surveys", p) for p in consumer.partitions_for_topic("surveys") or ()]
        return sum((await consumer.end_offsets(tps)).values())
    finally:
        await consumer.stop()


async def test_rebuild_reads_past_the_short_end_offsets_and_under_steady_traffic(own_broker, jwt_secret):
    _, bootstrap = own_broker
    publisher = Publisher(bootstrap)
    for batch in range(3):  # three produce calls: several record batches per partition
        await publisher.publish(scheduled_records(10, start=batch * 10))
    assert await reported_end(bootstrap) < 120, "tansu reports the end short (the case this test is about)"
    settings = SurveySettings(kafka_bootstrap=bootstrap, jwt_secret=jwt_secret, rebuild_idle_s=0.3)

    runtime = SurveyRuntime(settings)
    await runtime.start()
    try:
        await asyncio.wait_for(runtime.rebuilt.wait(), 30)
        assert len(runtime.book.invitations) == 120  # 30 members × 4 questionnaires, none missing
    finally:
        await runtime.stop()

    # A record every 50 ms (the helper's default): the log is never quiet for 0.3 s.
    busy = SurveyRuntime(settings)
    async with steady_traffic(publisher, lambda n: scheduled_records(1, start=1000 + n)):
        await busy.start()
        try:
            await asyncio.wait_for(busy.rebuilt.wait(), 30)
            assert len(busy.book.invitations) >= 120
        finally:
            await busy.stop()
    publisher.close()
