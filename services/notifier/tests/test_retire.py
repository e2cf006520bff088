"""Retiring members whose follow-up ended long ago (docs/scale.md, "Retiring ended members") keeps the
state small and changes no decision: a state that retires decides exactly like one that never does,
also for records that arrive after the retirement (late events, a duplicated enrolment, scores)."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta, timezone

import orjson

from contracts.members import CohortConfigured, CohortSettings, MemberEnrolled, MemberWithdrawn
from services.notifier.state import NotifierState

START = date(2026, 3, 2)
ENDS_ON = START + timedelta(days=34)
WINDOW = timedelta(days=30)


def _state(retiring: bool) -> NotifierState:
    state = NotifierState(timedelta(hours=2), timedelta(hours=24), False, dedup_window=WINDOW)
    if not retiring:
        state.retire = lambda now: []  # the same state without the rule
    return state


def _login(member: str, at: datetime) -> bytes:
    return orjson.dumps({"event_id": str(uuid.uuid4()), "type": "login", "member_id": member,
                         "occurred_at": at.isoformat(), "received_at": at.isoformat(), "payload": {}})


def _at(day: date, hour: int = 10) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=timezone.utc)


ENROLMENTS = {m: MemberEnrolled(event_id=uuid.uuid4(), member_id=m, cohort="c", timezone="UTC", enrolled_on=START,
                                occurred_at=_at(START)).model_dump_json().encode()
              for m in ("steady", "quiet", "leaver")}
OPEN_COHORT = [MemberEnrolled(event_id=uuid.uuid4(), member_id=m, cohort="o", timezone="UTC",
                              enrolled_on=START, occurred_at=_at(START)).model_dump_json().encode()
               for m in ("open", "open-leaver")]


def _records() -> list[tuple[str, bytes]]:
    out = [("member", CohortConfigured(event_id=uuid.uuid4(), cohort="c", occurred_at=_at(START),
                                       settings=CohortSettings(ends_on=ENDS_ON, nurses=["n"])
                                       ).model_dump_json().encode())]
    out += [("member", raw) for raw in (*ENROLMENTS.values(), *OPEN_COHORT)]
    for member, cohort in (("leaver", "c"), ("open-leaver", "o")):  # the second may still re-enrol
        out.append(("member", MemberWithdrawn(event_id=uuid.uuid4(), member_id=member, cohort=cohort,
                                              withdrawn_on=START + timedelta(days=10),
                                              occurred_at=_at(START)).model_dump_json().encode()))
    for d in range(40):
        day = START + timedelta(days=d)
        out.append(("event", _login("steady", _at(day))))
        if d < 3:
            out.append(("event", _login("quiet", _at(day))))
    return out


def _fold(state: NotifierState, kind: str, raw: bytes) -> None:
    state.fold_member(0, raw) if kind == "member" else state.fold_engagement(raw)


def _run_tick(state: NotifierState, now: datetime) -> tuple[list, list]:
    notes, events = state.decide(0, now)
    for event in events:
        state.apply_alert(event)
    for note in notes:
        state.fold_notification(note.model_dump_json().encode())
    state.tick_handled(0, now)
    return [n.dedup_key for n in notes], [(type(e).__name__, e.alert_id) for e in events]


def test_a_retiring_state_decides_like_one_that_keeps_everyone():
    plain, retiring = _state(False), _state(True)
    for state in (plain, retiring):
        for kind, raw in _records():
            _fold(state, kind, raw)
    late = [("event", _login("steady", _at(ENDS_ON - timedelta(days=1), 20))),  # late, inside follow-up
            ("event", _login("quiet", _at(ENDS_ON + timedelta(days=90)))),     # the app used after the end
            ("member", ENROLMENTS["quiet"])]                                     # a duplicated delivery
    decided = []
    for hours in range(0, 24 * 110, 6):
        now = _at(START, 0) + timedelta(hours=hours)
        results = [_run_tick(state, now) for state in (plain, retiring)]
        assert results[0] == results[1], now
        decided += results[0][0] + results[0][1]
        if hours == 24 * 100:  # everyone of cohort c retired by now: their late records change nothing
            assert {"steady", "quiet", "leaver"} <= retiring.retired
            for state in (plain, retiring):
                for kind, raw in late:
                    _fold(state, kind, raw)
    assert decided, "the scenario decides something (reminders, an inactivity alert)"
    assert set(retiring.members) == {"open", "open-leaver"}
    assert set(plain.members) == {"steady", "quiet", "leaver", "open", "open-leaver"}
    assert not {"steady", "quiet", "leaver"} & (set(retiring.days) | set(retiring.quarters) | set(retiring.scored))
    assert not any(m in retiring.early for m in ("steady", "quiet", "leaver"))


def test_a_member_with_an_unresolved_alert_is_not_retired():
    state = _state(True)
    for kind, raw in _records():
        _fold(state, kind, raw)
    _run_tick(state, _at(START + timedelta(days=8), 1))  # quiet: days 4-7 without a login
    assert state.queue.unresolved_of("quiet", "inactivity") is not None
    state.queue.unresolved_of = lambda member, kind: object() if member == "quiet" else None  # held open
    state.retire(_at(ENDS_ON + timedelta(days=60)))
    assert "quiet" in state.members and {"steady", "leaver"} <= state.retired


def test_an_erased_member_leaves_no_id_among_the_retired():
    state = _state(True)
    for kind, raw in _records():
        _fold(state, kind, raw)
    state.retire(_at(ENDS_ON + timedelta(days=60)))
    state.erase("steady")
    assert "steady" not in state.retired and "steady" not in str(state.to_snapshot())
