"""The clock process's time arithmetic and loop, without a broker (the real-broker tests are in
tests/clock/)."""

import asyncio
from datetime import datetime, timedelta, timezone

from contracts.clock import tick_event_id
from services.clock.period import due_tick, floor_to_period, seconds_to_next
from services.clock.settings import ClockSettings
from services.clock.ticker import Ticker

MINUTE = timedelta(minutes=1)
T = datetime(2026, 11, 2, 8, 15, 42, 500_000, tzinfo=timezone.utc)


def test_every_process_floors_to_the_same_tick():
    assert floor_to_period(T, MINUTE) == datetime(2026, 11, 2, 8, 15, tzinfo=timezone.utc)
    assert floor_to_period(T.astimezone(timezone(timedelta(hours=8))), MINUTE) == floor_to_period(T, MINUTE)
    assert floor_to_period(T, timedelta(seconds=1)) == T.replace(microsecond=0)
    assert tick_event_id(floor_to_period(T, MINUTE)) == tick_event_id(floor_to_period(T + timedelta(seconds=9), MINUTE))
    assert seconds_to_next(T, MINUTE) == 17.5


def test_after_a_gap_only_the_current_period_is_due():
    last = datetime(2026, 11, 2, 7, 0, tzinfo=timezone.utc)
    assert due_tick(T, MINUTE, last) == datetime(2026, 11, 2, 8, 15, tzinfo=timezone.utc)  # not 07:01 … 08:14
    assert due_tick(T, MINUTE, datetime(2026, 11, 2, 8, 15, tzinfo=timezone.utc)) is None
    assert due_tick(T, MINUTE, None) == datetime(2026, 11, 2, 8, 15, tzinfo=timezone.utc)


def test_the_loop_writes_each_period_once_and_skips_a_gap(monkeypatch):
    settings = ClockSettings(jwt_secret="x" * 40, clock_mode="wall", clock_tick_seconds=60)
    times = iter([T, T, T + timedelta(seconds=10), T + timedelta(seconds=10), T + timedelta(hours=2), T + timedelta(hours=2)])
    written: list[datetime] = []

    class Done(Exception):
        pass

    def wall() -> datetime:
        try:
            return next(times)
        except StopIteration:
            raise Done from None

    async def no_sleep(_: float) -> None:
        return None

    ticker = Ticker(settings, wall=wall, sleep=no_sleep)

    async def connect():
        return object()

    async def write(now: datetime) -> None:
        written.append(now)

    monkeypatch.setattr(ticker, "_connect", connect)
    monkeypatch.setattr(ticker, "write", write)
    try:
        asyncio.run(ticker.run())
    except Done:
        pass
    assert written == [floor_to_period(T, MINUTE), floor_to_period(T + timedelta(hours=2), MINUTE)]


def test_an_unknown_clock_mode_is_a_startup_error_naming_the_setting():
    import pytest
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="CLOCK_MODE must be one of wall, simulated"):
        ClockSettings(jwt_secret="x" * 40, clock_mode="real")


def test_a_service_started_with_an_unknown_clock_mode_stops_naming_the_setting():
    import os
    import subprocess
    import sys

    env = dict(os.environ, CLOCK_MODE="realtime", JWT_SECRET="x" * 40, CLOCK_PORT="1")
    run = subprocess.run([sys.executable, "-m", "services.clock"], env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode != 0
    assert "CLOCK_MODE must be one of wall, simulated" in run.stdout + run.stderr
