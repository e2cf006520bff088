"""The metric definitions of docs/metrics.md as pure functions — the one place they live.

Every service (metrics, notifier, survey, simulator, tests' independent counts) calls these rather
than re-deciding what "logged in" or "completed" means.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Literal
from zoneinfo import ZoneInfo

from .events import Checkin, Login, MeditationPlay, Post

AnyClientEvent = Login | Post | Checkin | MeditationPlay
Stage = Literal["intervention", "open-ended"]


def local_day(moment: datetime, timezone: str) -> date:
    """The member's local calendar day on which `moment` happened."""
    return moment.astimezone(ZoneInfo(timezone)).date()


def counts_as_login(event: AnyClientEvent) -> bool:
    """Any client event shows the member was in the app that day."""
    return True


def tasks_marked(event: AnyClientEvent) -> frozenset[str]:
    """Scheduled tasks this event marks done: a check-in marks its task, a completed meditation
    play marks `meditation`."""
    if isinstance(event, Checkin):
        return frozenset({event.payload.task})
    if isinstance(event, MeditationPlay) and event.payload.completed:
        return frozenset({"meditation"})
    return frozenset()


def is_action(event: AnyClientEvent) -> bool:
    """Rehabilitation actions are check-ins and meditation plays."""
    return isinstance(event, Checkin | MeditationPlay)


def follow_up_day(day: date, enrolled_on: date) -> int:
    """1-based follow-up day number (enrolment day is day 1)."""
    return (day - enrolled_on).days + 1


def in_follow_up(day: date, enrolled_on: date, withdrawn_on: date | None = None, ends_on: date | None = None) -> bool:
    """Follow-up runs from enrolment (inclusive) until withdrawal (exclusive) or the cohort's end (inclusive)."""
    if day < enrolled_on:
        return False
    if withdrawn_on is not None and day >= withdrawn_on:
        return False
    return ends_on is None or day <= ends_on


def follow_up_days(enrolled_on: date, last_day: date, withdrawn_on: date | None = None,
                   ends_on: date | None = None) -> list[date]:
    """All follow-up days up to and including `last_day` (usually "today" in the member's zone)."""
    days, day = [], enrolled_on
    while day <= last_day and in_follow_up(day, enrolled_on, withdrawn_on, ends_on):
        days.append(day)
        day += timedelta(days=1)
    return days


def study_week(day_number: int) -> int:
    """Study week w holds follow-up days 7(w-1)+1 … 7w."""
    if day_number < 1:
        raise ValueError("follow-up days start at 1")
    return (day_number - 1) // 7 + 1


def stage(week: int, intervention_weeks: int = 4) -> Stage:
    return "intervention" if week <= intervention_weeks else "open-ended"


def is_working_day(day: date, holidays: Iterable[date] = ()) -> bool:
    """Saturdays, Sundays and the cohort's holidays are non-working days."""
    return day.weekday() < 5 and day not in set(holidays)


@dataclass(frozen=True)
class DayEngagement:
    """What one member did on one local day, and the three daily metrics derived from it."""

    logged_in: bool
    tasks_done: frozenset[str]
    actions: int

    def participated(self, scheduled: Iterable[str]) -> bool:
        return bool(self.tasks_done & set(scheduled))

    def completed(self, scheduled: Iterable[str]) -> bool:
        return set(scheduled) <= self.tasks_done

    def remaining(self, scheduled: Iterable[str]) -> tuple[str, ...]:
        return tuple(t for t in scheduled if t not in self.tasks_done)


NO_ENGAGEMENT = DayEngagement(logged_in=False, tasks_done=frozenset(), actions=0)


def summarize_day(events: Iterable[AnyClientEvent]) -> DayEngagement:
    """Fold one member-day's events (already de-duplicated by event_id) into its engagement."""
    logged_in, tasks, actions = False, set(), 0
    for event in events:
        logged_in = logged_in or counts_as_login(event)
        tasks |= tasks_marked(event)
        actions += is_action(event)
    return DayEngagement(logged_in, frozenset(tasks), actions)


def is_active(days_logged_in: int, days_in_window: int, threshold: float = 0.70) -> bool:
    """Active member: login rate over the first 28 follow-up days at or above the cohort threshold."""
    return days_in_window > 0 and days_logged_in / days_in_window >= threshold


Activity = Literal["active", "inactive", "pending", "insufficient"]


def activity(days_logged_in: int, complete_window_days: int, window: int, follow_up_ongoing: bool,
             threshold: float = 0.70) -> Activity:
    """A member's activity over the first `window` (28) complete follow-up days: judged only once the
    window is complete; `pending` while follow-up goes on, `insufficient` when it ended before."""
    if complete_window_days < window:
        return "pending" if follow_up_ongoing else "insufficient"
    return "active" if is_active(days_logged_in, complete_window_days, threshold) else "inactive"


def is_working_day_with_make_up(day: date, holidays: Iterable[date] = (), working_days: Iterable[date] = ()) -> bool:
    """Weekdays that are not holidays are working days, and so are the calendar's make-up working days
    (a worked Saturday)."""
    return day in set(working_days) or is_working_day(day, holidays)


def half_up(value: Fraction, places: int = 2) -> Decimal:
    """A non-negative exact value rounded half up to `places` decimals (60.375 → 60.38), exactly."""
    if value < 0:
        raise ValueError("rates are not negative")
    return Decimal(math.floor(value * 10 ** places + Fraction(1, 2))).scaleb(-places)
