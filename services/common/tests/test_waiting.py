"""The waiting room (events of members not enrolled yet) never exceeds its bounds and forgets old events."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from services.common.waiting import WaitingRoom

T0 = datetime(2026, 9, 1, tzinfo=timezone.utc)


@given(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 60)), max_size=400),
       st.integers(1, 20), st.integers(1, 50))
def test_a_room_never_exceeds_its_bounds(arrivals, per_member, total):
    room = WaitingRoom(per_member=per_member, total=total)
    for n, (member, key) in enumerate(arrivals):
        room.add(f"m-{member}", f"e-{key}-{n}", T0, n)
        assert len(room) <= total and room.largest() <= per_member
        assert len(room) == sum(1 for _ in room.items())
    assert len(room) + sum(room.dropped.values()) == len(arrivals)


def test_drops_are_counted_by_reason_and_a_known_key_is_kept_once():
    room = WaitingRoom(per_member=2, total=3)
    assert room.add("ghost", "a", T0, 1) and room.add("ghost", "a", T0, 1)  # a re-delivery: kept once
    assert room.add("ghost", "b", T0, 2)
    assert not room.add("ghost", "c", T0, 3)     # the member is full
    assert room.add("m-1", "d", T0, 4)
    assert not room.add("m-2", "e", T0, 5)       # the room is full
    assert room.dropped == {"member_full": 1, "total_full": 1}
    assert room.pop("m-1") == [("d", 4)] and len(room) == 2
    assert room.add("m-2", "e", T0, 5)           # room again once an enrolment took its events


def test_events_older_than_the_window_are_forgotten():
    room = WaitingRoom(window=timedelta(days=30))
    room.add("ghost", "old", T0, "old")
    room.add("ghost", "new", T0 + timedelta(days=20), "new")
    assert room.expire(T0 + timedelta(days=30)) == []
    assert room.expire(T0 + timedelta(days=31)) == ["old"]
    assert room.get("ghost") == {"new": "new"} and room.dropped["expired"] == 1
    assert room.expire(T0 + timedelta(days=60)) == ["new"] and len(room) == 0 and "ghost" not in room
