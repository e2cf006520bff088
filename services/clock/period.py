"""Pure time arithmetic of the clock process (no I/O, no clock reads)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def floor_to_period(moment: datetime, period: timedelta) -> datetime:
    """The start of the period `moment` falls in (UTC, periods counted from the Unix epoch): every
    clock process computes the same tick time, hence the same tick id, for the same period."""
    return EPOCH + ((moment.astimezone(timezone.utc) - EPOCH) // period) * period


def seconds_to_next(moment: datetime, period: timedelta) -> float:
    """Seconds from `moment` until the next period starts (> 0)."""
    return (floor_to_period(moment, period) + period - moment).total_seconds()


def due_tick(wall: datetime, period: timedelta, last_written: datetime | None) -> datetime | None:
    """The tick to write now: the current period, unless it is already written. After a gap this is
    the current period only — consumers handle a jump, and replaying every missed minute would send
    stale reminders and judge alerts on moments nobody lived through."""
    current = floor_to_period(wall, period)
    if last_written is not None and current <= last_written:
        return None
    return current
