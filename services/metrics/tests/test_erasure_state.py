"""The member-day book applies member.erased (docs/erasure.md): the member's days move to the
pseudonym unchanged, records of the id read later (a replay reads topics in parallel) follow them, and
nothing of the book answers the id any more."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timezone

from contracts.events import parse_client_event
from contracts.members import MemberEnrolled, MemberWithdrawn
from services.metrics.state import MemberDayBook

NOW = datetime(2026, 9, 10, tzinfo=timezone.utc)


def _login(at: str, member: str):
    return parse_client_event({"event_id": str(uuid.uuid4()), "type": "login", "member_id": member,
                               "occurred_at": at, "payload": {}}, received_at=NOW)


def _enrol(member: str) -> MemberEnrolled:
    return MemberEnrolled(event_id=uuid.uuid4(), member_id=member, cohort="c", timezone="Asia/Shanghai",
                          enrolled_on=date(2026, 9, 1), occurred_at=NOW)


def _view(book: MemberDayBook, member: str) -> list[tuple]:
    return [(d.day, d.logged_in, d.in_follow_up, d.day_number) for d in
            (book.day(member, day) for day in sorted(book.days_of[member]))]


def test_erasure_moves_the_days_to_the_pseudonym_and_later_records_follow():
    book = MemberDayBook()
    for member in ("m-1", "m-2"):
        book.enrol(_enrol(member))
        book.apply_events([_login("2026-09-02T08:00:00+08:00", member), _login("2026-09-03T08:00:00+08:00", member)])
    other_before, erased_before = _view(book, "m-2"), _view(book, "m-1")
    old_days, renamed = book.erase("m-1", "erased-abc")
    assert old_days == [date(2026, 9, 2), date(2026, 9, 3)]
    assert [d.member_id for d in renamed] == ["erased-abc", "erased-abc"]
    assert _view(book, "erased-abc") == erased_before and _view(book, "m-2") == other_before
    # a later event and a withdrawal of the id (read after the erasure) go to the pseudonym
    book.apply_event(_login("2026-09-04T08:00:00+08:00", "m-1"))
    book.withdraw(MemberWithdrawn(event_id=uuid.uuid4(), member_id="m-1", cohort="c",
                                  withdrawn_on=date(2026, 9, 5), occurred_at=NOW))
    assert len(_view(book, "erased-abc")) == 3 and book.members["erased-abc"].follow_up.is_withdrawn
    assert "m-1" not in repr((book.members, dict(book.days), dict(book.days_of), list(book.pending.items()),
                              dict(book.first_delivery)))


def test_an_enrolment_replayed_after_the_erasure_lands_under_the_pseudonym():
    book = MemberDayBook()
    book.apply_event(_login("2026-09-02T08:00:00+08:00", "m-1"))  # waiting: not enrolled yet
    assert book.erase("m-1", "erased-xyz") == ([], [])
    book.enrol(_enrol("m-1"))
    book.apply_event(_login("2026-09-03T08:00:00+08:00", "m-1"))
    assert list(book.members) == ["erased-xyz"] and book.dead_letters(NOW) == []
