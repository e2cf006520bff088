"""The tick gate alone (pure): apply / duplicate-or-stale / future / skip-to-newest, per partition."""

from datetime import datetime, timedelta, timezone

from prometheus_client import REGISTRY

from services.common.ticks import CountedTickGate, Tick, TickGate, Verdict, kafka_time

T = datetime(2026, 11, 2, 8, tzinfo=timezone.utc)
MINUTE = timedelta(minutes=1)


def test_only_a_strictly_later_tick_applies_per_partition():
    gate = TickGate()
    assert gate.admit(0, Tick(T)) is Verdict.APPLY
    assert gate.admit(0, Tick(T)) is Verdict.STALE            # a second clock process, same period
    assert gate.admit(0, Tick(T - MINUTE)) is Verdict.STALE   # backwards
    assert gate.admit(1, Tick(T - MINUTE)) is Verdict.APPLY   # another partition has its own latest
    assert gate.admit(0, Tick(T + MINUTE)) is Verdict.APPLY
    assert gate.latest == {0: T + MINUTE, 1: T - MINUTE} and gate.newest() == T + MINUTE


def test_future_is_judged_against_the_record_timestamp_in_wall_mode_only():
    wall = TickGate.for_mode("wall")
    written = T - timedelta(days=3)  # a rebuild long after: the record's own timestamp decides
    assert wall.admit(0, Tick(T, written)) is Verdict.FUTURE
    assert wall.admit(0, Tick(T, T - timedelta(hours=23))) is Verdict.APPLY
    assert wall.latest == {0: T}
    assert TickGate.for_mode("simulated").admit(0, Tick(T, written)) is Verdict.APPLY
    assert wall.admit(1, Tick(T + timedelta(days=30))) is Verdict.APPLY  # no timestamp known: no future check


def test_a_consumer_catching_up_applies_only_the_newest_waiting_tick():
    gate = TickGate.for_mode("wall")
    gate.admit(0, Tick(T))
    waiting = [Tick(T + MINUTE, T), Tick(T, T), Tick(T + 2 * MINUTE, T), Tick(T + 3 * MINUTE, T - timedelta(days=2)),
               Tick(T + MINUTE, T)]
    assert gate.admit_batch(0, waiting) == [Verdict.SUPERSEDED, Verdict.STALE, Verdict.APPLY, Verdict.FUTURE,
                                            Verdict.STALE]
    assert gate.latest[0] == T + 2 * MINUTE
    assert gate.admit_batch(0, [Tick(T)]) == [Verdict.STALE] and gate.admit_batch(3, []) == []


def test_seed_restores_and_never_moves_back():
    gate = TickGate()
    gate.seed(2, T)
    gate.seed(2, T - MINUTE)
    assert gate.admit(2, Tick(T)) is Verdict.STALE


def test_counted_gate_exports_one_set_of_series():
    gate = CountedTickGate.for_service("unit-test", "wall")
    gate.announce()
    gate.admit(0, Tick(T))
    gate.admit(0, Tick(T))
    gate.admit_batch(1, [Tick(T), Tick(T + MINUTE)])
    value = REGISTRY.get_sample_value
    assert value("clock_ticks_applied_total", {"consumer": "unit-test"}) == 2
    assert value("clock_ticks_ignored_total", {"consumer": "unit-test", "reason": "duplicate_or_stale"}) == 1
    assert value("clock_ticks_ignored_total", {"consumer": "unit-test", "reason": "skipped_to_newest"}) == 1
    assert value("clock_ticks_ignored_total", {"consumer": "unit-test", "reason": "future"}) == 0
    assert value("clock_tick_applied_timestamp_seconds", {"consumer": "unit-test"}) == (T + MINUTE).timestamp()


def test_kafka_time():
    assert kafka_time(T.timestamp() * 1000) == T and kafka_time(T.timestamp(), scale=1) == T
    assert kafka_time(None) is None and kafka_time(-1) is None
