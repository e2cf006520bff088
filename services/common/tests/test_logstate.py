"""The readiness rule of the log-state runtime (pure); the runtimes' own test_rebuild tests run it
against the real broker, quiet and under steady traffic."""

from services.common.logstate import STEADY_TRAFFIC_IDLE_PERIODS, rebuilt_by_now


def test_not_rebuilt_before_the_reported_end_however_quiet():
    assert not rebuilt_by_now(None, last_new=0.0, now=100.0, idle_s=0.5)


def test_rebuilt_once_quiet_past_the_reported_end():
    assert not rebuilt_by_now(10.0, last_new=10.2, now=10.6, idle_s=0.5)
    assert rebuilt_by_now(10.0, last_new=10.2, now=10.7, idle_s=0.5)


def test_rebuilt_under_steady_traffic_after_enough_idle_periods_past_the_end():
    never_quiet = dict(idle_s=0.5)
    deadline = 10.0 + STEADY_TRAFFIC_IDLE_PERIODS * 0.5
    assert not rebuilt_by_now(10.0, last_new=deadline - 0.1, now=deadline - 0.05, **never_quiet)
    assert rebuilt_by_now(10.0, last_new=deadline - 0.05, now=deadline, **never_quiet)
