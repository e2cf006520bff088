"""The survey book remembers step ids for the dedup window only (services.common.dedup), on the real
broker: an id older than the window before the latest tick is forgotten, a re-delivery inside it is
dropped, and the ids kept stay bounded however long the log grows (docs/scale.md, "Windowed dedup")."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from uuid import uuid4

from contracts.surveys import SurveyInvited
from contracts.topics import SURVEYS
from services.common.kafka import Publisher, Record

from .conftest import Driver, survey_client

T0 = datetime(2026, 3, 1, 9, tzinfo=timezone.utc)
WINDOW_DAYS = 32


def _invited(day: int) -> SurveyInvited:
    # An invitation this book never scheduled: its step is only remembered (for dedup), never folded.
    at = T0 + timedelta(days=day)
    return SurveyInvited(event_id=uuid4(), invitation_id=uuid4(), member_id=f"w-{day % 7}", cohort="window",
                         instrument="qlq_c30", timepoint="T0", occurred_at=at, expires_at=at + timedelta(days=7))


def _records(events) -> list[Record]:
    return [Record(SURVEYS.name, e.member_id.encode(), e.model_dump_json().encode()) for e in events]


def _wait(predicate, what: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


async def _publish(bootstrap: str, events) -> None:
    publisher = Publisher(bootstrap)
    try:
        await publisher.publish(_records(events))
    finally:
        publisher.close()


def test_step_ids_outside_the_window_are_forgotten_and_memory_stays_bounded(own_broker, jwt_secret):
    _, bootstrap = own_broker
    first = [_invited(day) for day in range(90)]
    with survey_client(bootstrap, jwt_secret, dedup_window_days=WINDOW_DAYS) as client:
        driver = Driver(client)
        book = client.app.state.runtime.book
        driver.wait_rebuilt()
        client.portal.call(_publish, bootstrap, first + [first[85]])  # one re-delivery inside the window
        _wait(lambda: len(book.seen) == 90, "the tail never folded the steps")
        driver.tick(T0 + timedelta(days=89))  # the newest step's day: kept are those of days 57 … 89
        assert first[0].event_id not in book.seen and first[56].event_id not in book.seen
        assert first[57].event_id in book.seen and len(book.seen) == WINDOW_DAYS + 1

        # Three more months of steps: the ids kept stay within the window, not the history.
        later = [_invited(day) for day in range(90, 180)]
        client.portal.call(_publish, bootstrap, later)
        _wait(lambda: later[-1].event_id in book.seen, "the tail never folded the later steps")
        assert len(book.seen) == WINDOW_DAYS + 1 + 90
        driver.tick(T0 + timedelta(days=240))  # a clock ahead of the log: the window ends at the newest step
        assert len(book.seen) == WINDOW_DAYS + 1 and first[85].event_id not in book.seen
