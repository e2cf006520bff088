"""Pure pieces without a broker: member-day state idempotence and the sample SD."""

from __future__ import annotations

import statistics
import uuid
from datetime import date, datetime, timezone

from hypothesis import given, strategies as st

from contracts.events import parse_client_event
from contracts.members import CohortConfigured, CohortSettings, MemberEnrolled, MemberWithdrawn
from services.metrics.queries import sample_sd
from services.metrics.state import MemberDayBook

NOW = datetime(2026, 9, 10, tzinfo=timezone.utc)


def _event(kind: str, payload: dict, at: str, member: str = "m-1"):
    return parse_client_event({"event_id": str(uuid.uuid4()), "type": kind, "member_id": member,
                               "occurred_at": at, "payload": payload}, received_at=NOW)


def test_state_is_idempotent_and_follows_the_rules():
    book = MemberDayBook()
    meal = _event("checkin", {"task": "meal"}, "2026-09-01T23:30:00-04:00")  # 09-02 in UTC, 09-01 in New York
    assert book.apply_event(meal) == []  # unknown member: waits
    changed = book.enrol(MemberEnrolled(event_id=uuid.uuid4(), member_id="m-1", cohort="c", timezone="America/New_York",
                                        enrolled_on=date(2026, 9, 1), occurred_at=NOW))
    assert [(d.day, d.logged_in, d.tasks_done, d.participated, d.completed) for d in changed] == \
        [(date(2026, 9, 1), True, ("meal",), True, False)]
    assert book.apply_event(meal) == []  # duplicate delivery: nothing changes
    play = _event("meditation_play", {"content_id": "x", "seconds": 5, "completed": False}, "2026-09-01T10:00:00-04:00")
    assert book.apply_event(play)[0].actions == 2
    book.configure(CohortConfigured(event_id=uuid.uuid4(), cohort="c", settings=CohortSettings(tasks=("meal",)),
                                    occurred_at=NOW))
    assert book.day("m-1", date(2026, 9, 1)).completed
    later = _event("login", {}, "2026-09-05T08:00:00-04:00")
    assert book.apply_event(later)[0].in_follow_up
    changed = book.withdraw(MemberWithdrawn(event_id=uuid.uuid4(), member_id="m-1", cohort="c",
                                            withdrawn_on=date(2026, 9, 5), occurred_at=NOW))
    assert [(d.day, d.in_follow_up) for d in changed] == [(date(2026, 9, 5), False)]
    assert book.dead_letters(NOW) == []


def test_unknown_members_are_dead_lettered_once():
    book = MemberDayBook()
    book.apply_event(_event("login", {}, "2026-09-01T08:00:00+08:00", member="ghost"))
    first = book.dead_letters(NOW)
    assert [(d.member_id, d.reason) for d in first] == [("ghost", "unknown_member")]
    assert book.dead_letters(NOW) == []


@given(st.lists(st.integers(min_value=0, max_value=40), min_size=2, max_size=300))
def test_sample_sd_is_the_ddof1_sd(values):
    got = sample_sd(len(values), sum(values), sum(v * v for v in values))
    assert abs(got - statistics.stdev(values)) <= 1e-12 * max(1.0, statistics.stdev(values))


def test_sample_sd_needs_two_member_days():
    assert sample_sd(1, 3, 9) is None and sample_sd(0, 0, 0) is None


def test_a_zone_change_rebuckets_the_days_from_its_date():
    from contracts.members import MemberTimezoneChanged
    book = MemberDayBook()
    book.enrol(MemberEnrolled(event_id=uuid.uuid4(), member_id="m-1", cohort="c", timezone="Europe/Berlin",
                              enrolled_on=date(2026, 9, 1), occurred_at=NOW))
    late = _event("login", {}, "2026-09-05T01:00:00+08:00")  # Berlin 09-04 19:00; Shanghai 09-05
    early = _event("login", {}, "2026-09-04T17:30:00+02:00")  # before 00:00 Shanghai 09-05: Berlin 09-04
    book.apply_events([late, early])
    assert book.days_of["m-1"] == {date(2026, 9, 4)} and book.day("m-1", date(2026, 9, 4)).events == 2
    changed = book.change_timezone(MemberTimezoneChanged(
        event_id=uuid.uuid4(), member_id="m-1", cohort="c", timezone="Asia/Shanghai",
        effective_on=date(2026, 9, 5), occurred_at=NOW))
    assert [(d.day, d.events) for d in changed] == [(date(2026, 9, 4), 1), (date(2026, 9, 5), 1)]
    assert book.day("m-1", date(2026, 9, 5)).day_number == 5
