"""The member-day book's memory is bounded (docs/security.md, "Memory bounds"): events of a member
never enrolled wait within the room's bounds, dedup keys are forgotten after the window, and the
numbers of enrolled members do not change."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta, timezone

from contracts.events import parse_client_event
from contracts.members import MemberEnrolled
from services.common.waiting import WaitingRoom
from services.metrics.state import MemberDayBook

NOW = datetime(2026, 9, 10, tzinfo=timezone.utc)


def _login(member: str, at: datetime, event_id: uuid.UUID | None = None):
    return parse_client_event({"event_id": str(event_id or uuid.uuid4()), "type": "login", "member_id": member,
                               "occurred_at": at.isoformat(), "payload": {}}, received_at=max(at, NOW))


def _enrol(book: MemberDayBook, member: str):
    return book.enrol(MemberEnrolled(event_id=uuid.uuid4(), member_id=member, cohort="c", timezone="UTC",
                                     enrolled_on=date(2026, 9, 1), occurred_at=NOW))


def _numbers(book: MemberDayBook, members) -> dict:
    return {(m, d): (book.day(m, d).events, book.day(m, d).logged_in)
            for m in members for d in sorted(book.days_of.get(m, ()))}


def test_a_flood_of_a_never_enrolled_member_stays_within_bounds_and_changes_no_number():
    cohort = [f"m-{i}" for i in range(5)]
    normal = [_login(m, NOW - timedelta(days=d, hours=i)) for i, m in enumerate(cohort) for d in range(4)]
    calm, flooded = MemberDayBook(), MemberDayBook(pending=WaitingRoom(per_member=100, total=150))
    for book in (calm, flooded):
        for m in cohort[:3]:
            _enrol(book, m)
    calm.apply_events(normal)
    for n, event in enumerate(normal):
        flooded.apply_event(event)
        flooded.apply_events([_login("ghost", NOW - timedelta(minutes=k)) for k in range(n * 50, n * 50 + 50)])
        assert len(flooded.pending) <= 150 and flooded.pending.largest() <= 100
    for book in (calm, flooded):
        for m in cohort[3:]:  # enrolled after their events: their waiting events are kept and applied
            _enrol(book, m)
    assert flooded.pending.dropped["member_full"] == 50 * len(normal) - 100
    assert _numbers(flooded, cohort) == _numbers(calm, cohort) and len(_numbers(calm, cohort)) == 20


def test_waiting_events_and_dedup_keys_are_forgotten_after_their_window():
    book = MemberDayBook()
    _enrol(book, "m-1")
    old_id = uuid.uuid4()
    book.apply_event(_login("m-1", NOW - timedelta(days=3), old_id))
    book.apply_event(_login("ghost", NOW - timedelta(days=3)))
    assert len(book.dead_letters(NOW)) == 1
    book.tick(NOW + timedelta(days=20))
    assert len(book.pending) == 1 and str(old_id) in book.first_delivery["m-1"]
    book.tick(NOW + timedelta(days=40))
    assert len(book.pending) == 1  # no event read for a month: a replay whose ticks run ahead
    book.apply_event(_login("m-1", NOW + timedelta(days=39)))
    book.pruned_at = None
    book.tick(NOW + timedelta(days=40))
    assert len(book.pending) == 0 and book.pending.dropped["expired"] == 1 and not book.dead_lettered
    # older than accepted lateness + margin: cannot arrive again; the recent key is kept
    assert str(old_id) not in book.first_delivery["m-1"] and len(book.first_delivery["m-1"]) == 1
    assert book.day("m-1", (NOW - timedelta(days=3)).date()).events == 1  # the day keeps its numbers
