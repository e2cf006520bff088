"""The notifier keeps events of members not enrolled yet within bounds (docs/security.md, "Memory
bounds") and forgets them after the window; enrolled members' days do not change."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta, timezone

import orjson

from contracts.members import MemberEnrolled
from services.common.waiting import WaitingRoom
from services.notifier.state import NotifierState

NOW = datetime(2026, 9, 10, 12, tzinfo=timezone.utc)


def _state(room: WaitingRoom | None = None) -> NotifierState:
    return NotifierState(timedelta(hours=2), timedelta(hours=24), False, waiting=room)


def _login(member: str, at: datetime) -> bytes:
    return orjson.dumps({"event_id": str(uuid.uuid4()), "type": "login", "member_id": member,
                         "occurred_at": at.isoformat(), "received_at": at.isoformat(), "payload": {}})


def _enrol(member: str) -> bytes:
    return MemberEnrolled(event_id=uuid.uuid4(), member_id=member, cohort="c", timezone="UTC",
                          enrolled_on=date(2026, 9, 1), occurred_at=NOW).model_dump_json().encode()


def test_a_flood_of_a_never_enrolled_member_stays_within_bounds_and_changes_no_day():
    normal = [_login(m, NOW - timedelta(days=d)) for m in ("a", "b") for d in range(5)]
    calm, flooded = _state(), _state(WaitingRoom(per_member=100, total=120))
    for state in (calm, flooded):
        state.fold_member(0, _enrol("a"))
    for raw in normal:
        calm.fold_engagement(raw)
        flooded.fold_engagement(raw)
        for k in range(200):
            flooded.fold_engagement(_login("ghost", NOW - timedelta(minutes=k)))
        assert len(flooded.early) <= 120 and flooded.early.largest() <= 100
    for state in (calm, flooded):
        state.fold_member(0, _enrol("b"))  # b's events waited for the enrolment: none lost
    assert flooded.days == calm.days and len(calm.days["b"]) == 5
    assert flooded.early.dropped["member_full"] == 200 * len(normal) - 100


def test_waiting_events_expire_at_a_tick_after_the_window():
    state = _state()
    state.fold_engagement(_login("ghost", NOW))
    state.tick_handled(0, NOW + timedelta(days=29))
    assert len(state.early) == 1
    state.tick_handled(0, NOW + timedelta(days=31))
    assert len(state.early) == 0 and state.early.dropped["expired"] == 1


async def test_a_dropped_event_is_counted_once_although_the_tail_and_the_stream_both_fold_it(jwt_secret):
    """In the running notifier every engagement record is folded twice (the log tail and the faust
    rules agent); notifier_waiting_events_dropped_total counts events, not deliveries. Found by the
    full-size flood (bench/memory_flood.py): 20,000 ghost events counted 25,000+ drops."""
    from contracts.topics import ENGAGEMENT_EVENTS
    from services.notifier.runtime import NotifierRuntime
    from services.notifier.settings import NotifierSettings

    runtime = NotifierRuntime(NotifierSettings(jwt_secret=jwt_secret, auth_dev=True, waiting_per_member=2))
    runtime.rebuilt.set()  # the stream path waits for the rebuild; no broker is needed for the fold
    flood = [_login("ghost", NOW - timedelta(minutes=k)) for k in range(5)]
    for raw in flood:
        runtime.fold(ENGAGEMENT_EVENTS.name, 0, raw)            # the log tail
        await runtime.on_engagement_record(0, raw)               # the faust rules agent
    assert len(runtime.state.early) == 2
    assert runtime.state.early.dropped["member_full"] == len(flood) - 2
