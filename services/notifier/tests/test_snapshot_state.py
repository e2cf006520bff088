"""A notifier state restored from a snapshot decides exactly what the uninterrupted state decides
(docs/scale.md, "Snapshots and restarts"): pure, no broker. The broker test with a SIGKILLed worker
is tests/scale/test_snapshot_restart.py."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from contracts.topics import MEMBER_PARTITIONS
from services.common.snapshot_codec import SnapshotError
from services.common.snapshots import key_partition, pack, unpack
from services.notifier.snapshot import CODEC
from services.notifier.state import NotifierState
from tests.scale.cohort import Driver, plan, tick_times

WRITTEN_AT = datetime(2026, 9, 20, tzinfo=timezone.utc)


def _state() -> NotifierState:
    return NotifierState(timedelta(hours=5), timedelta(hours=24), nurse_webhook=True)


def _member_records(p) -> list[tuple[int, bytes]]:
    """(partition, value) of the cohort's settings and enrolments, as Driver.setup writes them."""
    sent: list[tuple[str, str, dict]] = []
    driver = Driver.__new__(Driver)
    driver._send = lambda topic, key, value, partition=None: sent.append((topic, key, value))
    driver.flush = lambda: None
    driver.setup(p)
    return [(key_partition(key.encode(), MEMBER_PARTITIONS), json.dumps(value).encode()) for _, key, value in sent]


def _day(state: NotifierState, p, day: int) -> list[str]:
    """Fold the day's events, decide its ticks on every partition; the event ids decided, in order."""
    for event in p.events_by_day.get(day, ()):
        state.fold_engagement(json.dumps(event | {"received_at": event["occurred_at"]}).encode())
    decided = []
    for now in tick_times(day):
        for partition in range(MEMBER_PARTITIONS):
            notes, events = state.decide(partition, now)
            for note in notes:
                (state.requested if note.type == "notification.requested" else state.skipped).add(
                    note.dedup_key, note.occurred_at)
            for event in events:
                state.apply_alert(event)
            state.tick_handled(partition, now)
            decided += [str(x.event_id) for x in (*notes, *events)]
    return decided


def test_a_restored_state_decides_every_later_day_exactly_as_the_uninterrupted_one():
    p = plan(members=60, days=12)
    live = _state()
    for partition, value in _member_records(p):
        live.fold_member(partition, value)
    for day in range(6):
        _day(live, p, day)
    value = pack("notifier", "notifier", CODEC, live.to_snapshot(), {("members", 0): 61}, WRITTEN_AT)
    state, positions, written_at = unpack(value, "notifier", "notifier", CODEC)
    restored = _state()
    restored.restore(state)
    assert positions == {("members", 0): 61} and written_at == WRITTEN_AT
    assert CODEC.encode(restored.to_snapshot()) == CODEC.encode(live.to_snapshot())

    later_live = [_day(live, p, day) for day in range(6, 12)]
    later_restored = [_day(restored, p, day) for day in range(6, 12)]
    assert later_restored == later_live
    assert sum(map(len, later_live)) > 50, "the later days must decide alerts and reminders"
    assert len(restored.queue.alerts) == len(live.queue.alerts) > 0


@pytest.mark.parametrize("damage, reason", [
    (lambda v: v[:len(v) // 2], "corrupt"),
    (lambda v: v.replace(b'"state":"', b'"state":"AAAA'), "corrupt"),
    (lambda v: v.replace(b'"format":1', b'"format":2'), "incompatible"),
    (lambda v: json.dumps(json.loads(v) | {"state_version": "x" * 32}).encode(), "incompatible"),
    (lambda v: None, "missing"),
])
def test_a_damaged_snapshot_is_refused_with_its_reason(damage, reason):
    live = _state()
    for partition, value in _member_records(plan(members=6, days=2)):
        live.fold_member(partition, value)
    value = pack("notifier", "notifier", CODEC, live.to_snapshot(), {}, WRITTEN_AT)
    with pytest.raises(SnapshotError) as refused:
        unpack(damage(value), "notifier", "notifier", CODEC)
    assert refused.value.reason == reason
    assert "s-000" not in str(refused.value)  # no member data in the reason that gets logged
