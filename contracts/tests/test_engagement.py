from datetime import date, datetime, timezone
from uuid import uuid4

import pytest

from contracts.engagement import (
    follow_up_day,
    follow_up_days,
    in_follow_up,
    is_active,
    is_working_day,
    local_day,
    stage,
    study_week,
    summarize_day,
)
from contracts.events import parse_client_event

TASKS = ("meal", "exercise", "meditation")


def ev(type_, payload=None):
    data = {"event_id": str(uuid4()), "type": type_, "member_id": "m-1", "occurred_at": "2026-11-02T08:00:00+00:00"}
    return parse_client_event(data | ({"payload": payload} if payload is not None else {}))


def test_local_day_crosses_midnight_by_time_zone():
    moment = datetime(2026, 11, 1, 17, 30, tzinfo=timezone.utc)
    assert local_day(moment, "Asia/Shanghai") == date(2026, 11, 2)
    assert local_day(moment, "America/New_York") == date(2026, 11, 1)


def test_day_summary_login_participation_completion():
    login_only = summarize_day([ev("login"), ev("post", {"channel": "community"})])
    assert login_only.logged_in and not login_only.participated(TASKS) and login_only.actions == 0
    some = summarize_day([ev("checkin", {"task": "meal"}),
                          ev("meditation_play", {"content_id": "c", "seconds": 60, "completed": False})])
    assert some.participated(TASKS) and not some.completed(TASKS) and some.actions == 2
    assert some.remaining(TASKS) == ("exercise", "meditation")
    done = summarize_day([ev("checkin", {"task": "meal"}), ev("checkin", {"task": "exercise"}),
                          ev("meditation_play", {"content_id": "c", "seconds": 600, "completed": True})])
    assert done.completed(TASKS) and done.tasks_done == frozenset(TASKS)


def test_unscheduled_task_does_not_count_as_participation():
    assert not summarize_day([ev("checkin", {"task": "sleep"})]).participated(TASKS)


def test_follow_up_window_weeks_and_stages():
    enrolled, withdrawn = date(2026, 1, 5), date(2026, 1, 10)
    assert follow_up_day(date(2026, 1, 5), enrolled) == 1
    assert in_follow_up(date(2026, 1, 9), enrolled, withdrawn) and not in_follow_up(withdrawn, enrolled, withdrawn)
    assert not in_follow_up(date(2026, 1, 4), enrolled)
    assert len(follow_up_days(enrolled, date(2026, 3, 1), withdrawn)) == 5
    assert len(follow_up_days(enrolled, date(2026, 3, 1), ends_on=date(2026, 1, 11))) == 7
    assert [study_week(d) for d in (1, 7, 8, 28, 29)] == [1, 1, 2, 4, 5]
    assert stage(4) == "intervention" and stage(5) == "open-ended" and stage(5, intervention_weeks=6) == "intervention"
    with pytest.raises(ValueError):
        study_week(0)


def test_working_days_and_active_threshold():
    assert is_working_day(date(2026, 11, 2)) and not is_working_day(date(2026, 11, 1))
    assert not is_working_day(date(2026, 11, 2), holidays=[date(2026, 11, 2)])
    assert is_active(20, 28) and not is_active(19, 28) and not is_active(0, 0)
