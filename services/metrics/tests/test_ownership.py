"""Partition ownership of one metrics stream worker and its books per partition (pure): where each
assigned partition starts after a rebalance, which records are applied, and what a lost partition
takes with it."""

from __future__ import annotations

from datetime import date, datetime, timezone

from contracts.events import parse_recorded_event
from contracts.members import CohortConfigured, MemberEnrolled
from services.common.waiting import RoomBudget, WaitingRoom
from services.metrics.books import PartitionBooks
from services.metrics.ownership import Ownership
from services.metrics.state import MemberDayBook

EV, MB = "engagement.events", "members"


def test_gained_partitions_start_at_zero_or_their_snapshot_kept_ones_where_they_were():
    own = Ownership()
    keys = [(EV, 0), (MB, 0), (EV, 1), (MB, 1)]
    assert own.assign(keys) == ({0, 1}, set())
    assert own.starts(keys) == {(EV, 0): 0, (MB, 0): 0, (EV, 1): 0, (MB, 1): 0}
    assert own.admit(EV, 0, 0) and own.admit(EV, 0, 1) and own.admit(EV, 1, 0)
    keys = [(EV, 0), (MB, 0), (EV, 2), (MB, 2)]
    assert own.assign(keys) == ({2}, {1})
    own.resume({(EV, 2): 7, (MB, 2): 3, (EV, 5): 9})  # partition 2 restored; 5 is not ours
    assert own.starts(keys) == {(EV, 0): 2, (MB, 0): 0, (EV, 2): 7, (MB, 2): 3}
    # partition 1 comes back later: nothing of it remembered (its snapshot or offset 0 decides)
    assert own.assign([(EV, 1), (MB, 1)]) == ({1}, {0, 2})
    assert own.starts([(EV, 1), (MB, 1)]) == {(EV, 1): 0, (MB, 1): 0}


def test_a_redelivered_or_foreign_record_is_not_applied():
    own = Ownership()
    own.assign([(EV, 3)])
    assert own.admit(EV, 3, 0) and own.admit(EV, 3, 5)
    assert not own.admit(EV, 3, 4)  # below the applied position: faust re-delivered it
    assert not own.admit(EV, 3, 5)
    assert not own.admit(EV, 4, 0)  # a partition this worker does not own


def _event(member: str, event_id: str, at: str) -> object:
    return parse_recorded_event(
        f'{{"event_id": "{event_id}", "type": "login", "member_id": "{member}", "occurred_at": "{at}",'
        f' "received_at": "{at}", "payload": {{}}}}'.encode())


def _enrolment(member: str) -> MemberEnrolled:
    return MemberEnrolled(event_id="00000000-0000-4000-8000-000000000001", member_id=member, cohort="c",
                          timezone="UTC", enrolled_on=date(2026, 9, 1),
                          occurred_at=datetime(2026, 9, 1, tzinfo=timezone.utc))


def test_a_dropped_partition_takes_its_members_and_its_share_of_the_waiting_bound():
    budget = RoomBudget(total=10)
    books = PartitionBooks(lambda **shared: MemberDayBook(pending=WaitingRoom(budget=budget), **shared))
    books.book(0).enrol(_enrolment("a"))
    books.book(0).apply_events([_event("a", "00000000-0000-4000-8000-00000000000a", "2026-09-01T10:00:00+00:00")])
    books.book(1).apply_events([_event("w", "00000000-0000-4000-8000-00000000000b", "2026-09-01T10:00:00+00:00")])
    assert books.book_of("a") is books.book(0) and books.book_of("w") is books.book(1) and budget.used == 1
    books.drop(1)
    assert books.book_of("w") is None and budget.used == 0
    # rebuilt from the log: the same event is folded again, not taken for a duplicate
    books.drop(0)
    books.book(0).enrol(_enrolment("a"))
    changed = books.book(0).apply_events([_event("a", "00000000-0000-4000-8000-00000000000a",
                                                 "2026-09-01T10:00:00+00:00")])
    assert [d.logged_in for d in changed] == [True]


def test_cohort_settings_and_pseudonyms_are_shared_by_every_partition_book():
    books = PartitionBooks()
    books.book(0).enrol(_enrolment("a"))
    books.book(3).enrol(_enrolment("b").model_copy(update={"member_id": "b"}))
    books.book(0).apply_events([_event("a", "00000000-0000-4000-8000-00000000000a", "2026-09-01T10:00:00+00:00")])
    books.book(3).apply_events([_event("b", "00000000-0000-4000-8000-00000000000c", "2026-09-01T10:00:00+00:00")])
    books.set_cohort(CohortConfigured(event_id="00000000-0000-4000-8000-0000000000cc", cohort="c",
                                      settings={"tasks": ["meal"]},
                                      occurred_at=datetime(2026, 9, 1, tzinfo=timezone.utc)))
    days = books.cohort_days("c")
    assert {d.member_id for d in days} == {"a", "b"} and not any(d.participated for d in days)  # meal not done
    books.book(3).erase("b", "pseudo-b")
    books.drop(3)  # the partition leaves and comes back: the id gets the same pseudonym
    assert books.book(3).erase("b", "another")[0] == [] and books.erased["b"] == "pseudo-b"


def test_a_gained_partition_is_rebuilt_once_its_topics_reached_the_log_end():
    own = Ownership()
    own.assign([(EV, 0), (MB, 0)])
    assert not own.caught_up(0, (MB, EV), {(MB, 0): 2, (EV, 0): 1})  # nothing read yet
    own.admit(MB, 0, 0)
    own.admit(MB, 0, 1)
    assert not own.caught_up(0, (MB, EV), {(MB, 0): 2, (EV, 0): 1})
    assert not own.caught_up(0, (MB, EV), {(MB, 0): 2})  # a log end not known yet
    own.admit(EV, 0, 0)
    assert own.caught_up(0, (MB, EV), {(MB, 0): 2, (EV, 0): 1})
    assert own.caught_up(0, (MB, EV), {(MB, 0): 9, (EV, 0): 9})  # for good: live traffic keeps it behind
    own.assign([(EV, 0), (MB, 0), (EV, 1), (MB, 1)])
    assert own.caught_up(0, (MB, EV), {}) and not own.caught_up(1, (MB, EV), {(MB, 1): 3, (EV, 1): 0})
    own.assign([(EV, 2), (MB, 2)])
    own.resume({(EV, 2): 5, (MB, 2): 4})  # restored from a snapshot: rebuilt once the log after it is read
    assert own.caught_up(2, (MB, EV), {(MB, 2): 4, (EV, 2): 5})


def test_members_are_retired_only_when_the_partition_is_at_its_log_end():
    own = Ownership()
    own.assign([(EV, 0), (MB, 0)])
    own.admit(MB, 0, 0)
    own.admit(EV, 0, 0)
    assert own.at_log_end(0, (MB, EV), {(MB, 0): 1, (EV, 0): 1})
    assert not own.at_log_end(0, (MB, EV), {(MB, 0): 1, (EV, 0): 2})  # an event written before is unread
    assert not own.at_log_end(0, (MB, EV), {(MB, 0): 1})  # a log end not known yet
    assert not own.at_log_end(1, (MB, EV), {(MB, 1): 0, (EV, 1): 0})  # not ours
