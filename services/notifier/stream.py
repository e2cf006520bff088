"""faust-streaming agents of the notifier (one faust app, consumer group `NOTIFIER_GROUP_ID`):

* `notifier-rules`: `members`, `engagement.events` and `clock.ticks` (co-partitioned by member) →
  folds enrolments and events of its partitions, and on each tick decides alerts and reminders for
  that partition's members (published with acks=all before faust may commit the tick's offset).
* `notifier-delivery`: `notifications.outbound` → delivers each `notification.requested` once per
  dedup_key and records `notification.delivered` / `notification.failed` (+ `notifications.dlq`).

No faust tables: decisions use the runtime's state, rebuilt from the log at start (runtime.py).
"""

from __future__ import annotations

import faust

from contracts.topics import CLOCK_TICKS, ENGAGEMENT_EVENTS, MEMBERS, NOTIFICATIONS_OUTBOUND
from services.common.lag import LagReporter, report_faust_lag
from services.common.logging import log
from services.common.stream import make_faust_app
from services.common.ticks import kafka_time

from .runtime import NotifierRuntime


def build_faust_app(runtime: NotifierRuntime) -> faust.App:
    app = make_faust_app(runtime.settings.group_id, runtime.settings, topic_allow_declare=False,
                         broker_commit_interval=runtime.settings.commit_interval_s)
    rule_topics = app.topic(MEMBERS.name, ENGAGEMENT_EVENTS.name, CLOCK_TICKS.name, key_type=bytes,
                            value_type=bytes, key_serializer="raw", value_serializer="raw")
    lag = runtime.stream_lag = LagReporter("notifier", "stream")
    report_faust_lag(app, lag)
    outbound = app.topic(NOTIFICATIONS_OUTBOUND.name, key_type=bytes, value_type=bytes, key_serializer="raw",
                         value_serializer="raw")

    @app.agent(rule_topics, name="notifier-rules")
    async def decide(stream):
        async for event in stream.events():
            message = event.message
            try:
                if message.topic == CLOCK_TICKS.name:
                    await runtime.on_tick_record(message.partition, event.value,
                                                 kafka_time(message.timestamp, scale=1))
                elif message.topic == MEMBERS.name:
                    await runtime.on_member_record(message.partition, event.value)
                else:
                    await runtime.on_engagement_record(message.partition, event.value)
            except Exception as exc:  # a bug must not stop every member's alerts
                log.error("notifier_record_failed", topic=message.topic, partition=message.partition,
                          offset=message.offset, error=repr(exc), exc_info=exc)
            lag.record_applied(message.topic, message.partition, message.offset + 1)

    @app.agent(outbound, name="notifier-delivery")
    async def deliver(stream):
        async for event in stream.events():
            message = event.message
            try:
                await runtime.on_outbound_record(message.partition, event.value)
            except Exception as exc:
                log.error("notifier_delivery_crashed", partition=message.partition, offset=message.offset,
                          error=repr(exc), exc_info=exc)
            lag.record_applied(message.topic, message.partition, message.offset + 1)

    return app
