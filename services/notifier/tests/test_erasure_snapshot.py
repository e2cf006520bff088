"""Snapshots under erasure (docs/erasure.md, "Snapshots"), pure: a snapshot taken after an erasure holds
no trace of the id and, restored, keeps the pseudonym frozen; a snapshot taken before it is made safe by
the erasure folded again after the restore (the runtime reads `member.erasures` from offset 0)."""

from __future__ import annotations

import json

from services.common.snapshots import pack, unpack
from services.notifier.snapshot import CODEC
from services.notifier.state import NotifierState
from tests.scale.cohort import plan

from .test_snapshot_state import WRITTEN_AT, _day, _member_records, _state


def _restored(state: NotifierState) -> NotifierState:
    value = pack("notifier", "notifier", CODEC, state.to_snapshot(), {}, WRITTEN_AT)
    data, _, _ = unpack(value, "notifier", "notifier", CODEC)
    restored = _state()
    restored.restore(data)
    return restored


def _named(state: NotifierState, member: str) -> bool:
    """Does the state's snapshot (its encoded tree, before compression) name the member anywhere?"""
    return member in json.dumps(CODEC.encode(state.to_snapshot()))


def test_snapshots_before_and_after_an_erasure_never_bring_the_id_back():
    p = plan(members=30, days=10)
    live = _state()
    for partition, value in _member_records(p):
        live.fold_member(partition, value)
    for day in range(6):
        _day(live, p, day)
    victim = next(v.member_id for v in live.queue.alerts.values())
    before = _restored(live)  # taken before the erasure
    assert _named(before, victim)

    pseudonym = live.erase(victim)
    after = _restored(live)
    assert not _named(live, victim) and not _named(after, victim)
    assert after.aliases.is_renamed(pseudonym) and pseudonym in after.members
    assert sorted(v.status for v in after.queue.alerts.values()) == sorted(v.status for v in live.queue.alerts.values())

    before.erase(victim)  # a restore folds every erasure again (`member.erasures` is read from offset 0)
    after.erase(victim)
    assert after.aliases.is_renamed(pseudonym) and pseudonym in after.members  # the snapshot's pseudonym stays
    assert not _named(before, victim)
    # Later days: the pseudonym gets no decision in either restored state, nor in the live one, and a late
    # record of the id (read after the erasure) follows a pseudonym in every one of them.
    late = next(e for day in range(6) for e in p.events_by_day.get(day, ()) if e["member_id"] == victim)
    for state in (live, after, before):
        frozen = {v.alert_id: v.status for v in state.queue.alerts.values() if state.aliases.is_renamed(v.member_id)}
        assert frozen
        for day in range(6, 10):
            _day(state, p, day)
        state.fold_engagement(json.dumps(late | {"received_at": late["occurred_at"]}).encode())
        assert not _named(state, victim)
        assert {v.alert_id: v.status for v in state.queue.alerts.values()
                if state.aliases.is_renamed(v.member_id)} == frozen
