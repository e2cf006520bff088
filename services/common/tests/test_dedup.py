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


def test_seen_ids_forget_past_the_window_but_never_ahead_of_the_records_read():
    from services.common.dedup import SeenIds
    seen = SeenIds(timedelta(days=32))
    assert seen.add("a", T0) and not seen.add("a", T0 + timedelta(days=1))  # a re-delivery
    assert seen.add("b", T0 + timedelta(days=5))
    # A replay: the clock read beside the log is months ahead; the window ends at the newest record read.
    assert seen.prune(T0 + timedelta(days=200)) == 0 and len(seen) == 2
    assert seen.add("c", T0 + timedelta(days=33))
    assert seen.prune(T0 + timedelta(days=200)) == 1  # "a" (older than 32 days before day 33)
    assert "a" not in seen and "b" in seen and "c" in seen
    assert seen.prune(T0 + timedelta(days=200)) == 0  # at most hourly


def _call(at: datetime, event_id: str):
    from contracts.alerts import CallLogged
    return CallLogged(event_id=event_id, alert_id="00000000-0000-4000-8000-0000000000a1", member_id="m",
                      cohort="c", by="nurse-1", outcome="reached", occurred_at=at)


def _raised(at: datetime):
    from contracts.alerts import AlertRaised
    return AlertRaised(event_id="00000000-0000-4000-8000-0000000000e1", alert_id="00000000-0000-4000-8000-0000000000a1",
                       member_id="m", cohort="c", rule="intervention_inactive", since=T0.date(), through=T0.date(),
                       missed_days=2, window_days=2, last_login_on=None, assigned_to="nurse-1", occurred_at=at)


def test_call_queue_drops_a_redelivered_call_inside_the_window_and_stays_bounded():
    from services.notifier.queue import CallQueue
    queue = CallQueue(timedelta(days=32))
    assert queue.apply(_raised(T0))
    first = _call(T0 + timedelta(hours=1), "00000000-0000-4000-8000-0000000000c1")
    assert queue.apply(first) and not queue.apply(first)  # re-delivered: one call, not two
    assert len(queue.alerts[first.alert_id].calls) == 1
    for day in range(1, 80):  # a call a day for months: the remembered ids stay within the window
        queue.apply(_call(T0 + timedelta(days=day), f"00000000-0000-4000-8000-{day:012d}"))
        queue.prune(T0 + timedelta(days=day))
    assert queue.ids_remembered <= 34
    assert len(queue.alerts[first.alert_id].calls) == 80


def test_survey_book_keeps_step_ids_for_the_window_only():
    from contracts.surveys import SurveyPlan
    from services.common.dedup import SeenIds
    from services.survey.state import SurveyBook
    book = SurveyBook(plan=SurveyPlan(), seen=SeenIds(timedelta(days=32)))
    assert book.seen.add("step-1", T0)
    book.on_tick(T0 + timedelta(days=20))
    assert "step-1" in book.seen
    book.seen.add("step-2", T0 + timedelta(days=40))
    book.on_tick(T0 + timedelta(days=40))
    assert "step-1" not in book.seen and "step-2" in book.seen
