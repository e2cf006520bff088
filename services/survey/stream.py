"""faust-streaming agents of the survey service: `members` (enrolments, withdrawals) and
`clock.ticks` → schedule steps on `surveys` and push requests on `notifications.outbound`.

Built with the shared set-up (`services.common.stream`). The agents hold no faust tables:
decisions use the runtime's book, which is rebuilt from the `surveys` log at start (runtime.py),
so nothing depends on changelog recovery. Each record is handled to the end — steps published with
acks=all and folded into the book — before faust may commit its offset (at-least-once);
re-processing a record re-creates the same event ids and changes nothing.
"""

from __future__ import annotations

import faust

from contracts.topics import CLOCK_TICKS, MEMBERS
from services.common.lag import LagReporter, report_faust_lag
from services.common.logging import log
from services.common.stream import catalogue_topic, make_faust_app
from services.common.ticks import kafka_time

from .runtime import SurveyRuntime


def build_faust_app(runtime: SurveyRuntime) -> faust.App:
    app = make_faust_app(runtime.settings.group_id, runtime.settings)
    lag = runtime.stream_lag = LagReporter("survey", "stream")
    report_faust_lag(app, lag)

    async def handle(stream, handler, timed: bool = False) -> None:
        async for event in stream.events():
            message = event.message
            try:
                # Ticks also get their record's Kafka timestamp (the gate's reference for "future").
                extra = (kafka_time(message.timestamp, scale=1),) if timed else ()
                await handler(message.partition, event.value, *extra)
            except Exception as exc:  # a bug in one record must not stop every member's schedule
                log.error("survey_record_failed", topic=message.topic, partition=message.partition,
                          offset=message.offset, error=repr(exc), exc_info=exc)
            lag.record_applied(message.topic, message.partition, message.offset + 1)

    @app.agent(catalogue_topic(app, MEMBERS), name="survey-members")
    async def members(stream):
        await handle(stream, runtime.on_member_record)

    @app.agent(catalogue_topic(app, CLOCK_TICKS), name="survey-clock")
    async def clock(stream):
        await handle(stream, runtime.on_tick_record, timed=True)

    return app
