"""Partition ownership of one metrics stream worker (pure): where each assigned partition starts after a
rebalance, which records are applied, and what a lost partition takes with it."""

from __future__ import annotations

from datetime import date, datetime, timezone

from contracts.events import parse_recorded_event
from contracts.members import MemberEnrolled
from services.metrics.ownership import Ownership
from services.metrics.state import MemberDayBook

EV, MB = "engagement.events", "members"


def test_gained_partitions_start_at_zero_kept_ones_where_they_were_lost_ones_are_forgotten():
    own = Ownership()
    starts, lost = own.assign([(EV, 0), (MB, 0), (EV, 1), (MB, 1)])
    assert starts == {(EV, 0): 0, (MB, 0): 0, (EV, 1): 0, (MB, 1): 0} and lost == set()
    assert own.admit(EV, 0, 0) and own.admit(EV, 0, 1) and own.admit(EV, 1, 0)
    own.member_read(0, "a")
    own.member_read(1, "b")
    starts, lost = own.assign([(EV, 0), (MB, 0), (EV, 2), (MB, 2)])
    assert starts == {(EV, 0): 2, (MB, 0): 0, (EV, 2): 0, (MB, 2): 0}
    assert lost == {"b"}
    # partition 1 comes back later: rebuilt from offset 0, nothing of it remembered
    starts, lost = own.assign([(EV, 1), (MB, 1)])
    assert starts == {(EV, 1): 0, (MB, 1): 0} and lost == {"a"}


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


def test_forgetting_members_drops_their_days_keys_and_waiting_events():
    book = MemberDayBook()
    at = datetime(2026, 9, 1, tzinfo=timezone.utc).isoformat()
    book.enrol(MemberEnrolled(event_id="00000000-0000-4000-8000-000000000001", member_id="a", cohort="c",
                              timezone="UTC", enrolled_on=date(2026, 9, 1), occurred_at=at))
    book.apply_events([_event("a", "00000000-0000-4000-8000-00000000000a", "2026-09-01T10:00:00+00:00"),
                       _event("w", "00000000-0000-4000-8000-00000000000b", "2026-09-01T10:00:00+00:00")])
    assert book.days_of["a"] and "w" in book.pending
    book.forget({"a", "w"})
    assert "a" not in book.members and not book.days and "a" not in book.days_of
    assert "a" not in book.first_delivery and "w" not in book.pending and len(book.pending) == 0
    # rebuilt from the log: the same event is folded again, not taken for a duplicate
    book.enrol(MemberEnrolled(event_id="00000000-0000-4000-8000-000000000001", member_id="a", cohort="c",
                              timezone="UTC", enrolled_on=date(2026, 9, 1), occurred_at=at))
    changed = book.apply_events([_event("a", "00000000-0000-4000-8000-00000000000a", "2026-09-01T10:00:00+00:00")])
    assert [d.logged_in for d in changed] == [True]


def test_a_gained_partition_is_rebuilt_once_its_topics_reached_the_log_end():
    own = Ownership()
    own.assign([(EV, 0), (MB, 0)])
    own.member_read(0, "a")
    assert own.partition_of("a") == 0 and own.partition_of("b") is None
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


def test_a_restored_snapshot_counts_as_kept_where_assigned_and_is_forgotten_elsewhere():
    from services.metrics.ownership import default_partition
    members = [f"m-{i}" for i in range(40)]
    here = {m for m in members if default_partition(m) == 0}
    own = Ownership()
    own.restore({(EV, 0): 7, (MB, 0): 3, (EV, 1): 5, (MB, 1): 2}, members)
    starts, lost = own.assign([(EV, 0), (MB, 0), (EV, 2), (MB, 2)])
    assert starts == {(EV, 0): 7, (MB, 0): 3, (EV, 2): 0, (MB, 2): 0}  # snapshot offset; rebuilt from 0
    assert lost == {m for m in members if default_partition(m) == 1}  # restored, now another worker's
    assert own.partition_of(next(iter(here))) == 0
