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


def test_the_notifier_and_the_metrics_stream_read_the_same_waiting_bounds(monkeypatch):
    """WAITING_* are declared once (services/common/waiting_settings.py): one environment, one meaning."""
    from services.common.waiting_settings import WaitingSettings
    from services.metrics.settings import MetricsSettings
    from services.notifier.settings import NotifierSettings

    monkeypatch.setenv("WAITING_PER_MEMBER", "7")
    monkeypatch.setenv("WAITING_TOTAL", "70")
    monkeypatch.setenv("WAITING_WINDOW_DAYS", "2.5")
    common = {"auth_dev": True, "jwt_secret": "test-secret-0123456789abcdef0123456789"}
    for settings in (MetricsSettings(**common), NotifierSettings(**common)):
        assert isinstance(settings, WaitingSettings)
        room = settings.waiting_room()
        assert (room.per_member, room.total, room.window) == (7, 70, timedelta(days=2.5))
    for name in ("waiting_per_member", "waiting_total", "waiting_window_days"):
        assert name not in MetricsSettings.__annotations__ and name not in NotifierSettings.__annotations__


def test_rooms_sharing_a_budget_hold_at_most_its_total_together():
    from services.common.waiting import RoomBudget
    budget = RoomBudget(total=3)
    a, b = WaitingRoom(per_member=10, budget=budget), WaitingRoom(per_member=10, budget=budget)
    at = datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert a.add("m", "1", at, "e1") and a.add("m", "2", at, "e2") and b.add("n", "3", at, "e3")
    assert not b.add("n", "4", at, "e4") and b.dropped["total_full"] == 1  # a holds two of the three
    a.clear()  # a's partition moved away: its share is free again
    assert len(a) == 0 and budget.used == 1 and b.add("n", "4", at, "e4")
    b.restore({"waiting": {}, "dropped": {}})
    assert budget.used == 0
