"""Dedup state bounded by a time window (services.common.dedup) and the notifier keys that use it."""

from datetime import datetime, timedelta, timezone

from contracts.notifications import NotificationRequested
from services.common.dedup import WindowedKeys
from services.notifier.state import NotifierState

T0 = datetime(2026, 9, 1, tzinfo=timezone.utc)


def test_keys_older_than_the_window_are_forgotten_and_newer_ones_kept():
    keys = WindowedKeys(timedelta(days=32))
    keys.add("old", T0, "delivered")
    keys.add("edge", T0 + timedelta(days=8), "failed")
    keys.add("edge", T0 + timedelta(days=9), "delivered")  # a later record: the value changes, the instant stays
    assert keys.get("edge") == "delivered"
    assert keys.prune(T0 + timedelta(days=32)) == 0  # exactly the window: still remembered
    assert keys.prune(T0 + timedelta(days=33)) == 1
    assert "old" not in keys and "edge" in keys and len(keys) == 1
    assert keys.prune(T0 + timedelta(days=41)) == 1 and len(keys) == 0


def note(at: datetime) -> NotificationRequested:
    return NotificationRequested(event_id="00000000-0000-0000-0000-000000000001", dedup_key=f"reminder|m|{at:%F}",
                                 kind="reminder", channel="push", recipient="m", cohort="c", title="t", body="b",
                                 occurred_at=at)


def test_notifier_forgets_keys_past_the_window_and_never_delivers_such_an_old_request():
    state = NotifierState(grace=timedelta(hours=2), escalate_after=timedelta(hours=24), nurse_webhook=False,
                          dedup_window=timedelta(days=32))
    state.fold_notification(note(T0).model_dump_json().encode())
    state.tick_handled(0, T0 + timedelta(days=10))
    assert note(T0).dedup_key in state.requested and not state.expired(note(T0))
    state.tick_handled(0, T0 + timedelta(days=33))  # the hourly prune runs on this tick
    assert note(T0).dedup_key not in state.requested
    assert state.expired(note(T0))  # so a re-read request of that age is refused, not resent
    assert not state.expired(note(T0 + timedelta(days=2)))
