"""`clock.tick`: time is an event (docs/architecture.md, "Time is an event")."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Literal
from uuid import UUID, uuid5

from pydantic import AfterValidator, Field

from .common import EARLIEST_TIMESTAMP, EventId, StrictModel, Timestamp

# Every local day must fit ClickHouse's Date (until 2149-06-06): one tick beyond it made "today"
# wrap around and every follow-up day vanish (found when a fuzzed tick reached the test broker).
LATEST_CLOCK_TIME = datetime(2100, 1, 1, tzinfo=timezone.utc)


def check_clock_time(value: datetime) -> datetime:
    if not EARLIEST_TIMESTAMP <= value < LATEST_CLOCK_TIME:
        raise ValueError("the clock must stay between 2000-01-01 and 2100-01-01 (UTC)")
    return value


# Fixed namespace: a tick's id depends only on its time, so two clock processes write the same tick
# and every consumer drops the second copy (docs/architecture.md, "Time is an event").
CLOCK_TICK_NAMESPACE = UUID("6c7d3f0e-2b1a-5c4d-9e8f-0a1b2c3d4e5f")


def tick_event_id(now: datetime) -> UUID:
    """The id of the tick for `now` (an aware datetime, already floored to the clock period)."""
    return uuid5(CLOCK_TICK_NAMESPACE, now.astimezone(timezone.utc).isoformat())


ClockTime = Annotated[Timestamp, AfterValidator(check_clock_time)]


class ClockTick(StrictModel):
    """Simulated or real "now". Written once to every partition of `clock.ticks` so that each
    partition's processor sees time advance in order with its own members' events."""

    type: Literal["clock.tick"] = "clock.tick"
    event_id: EventId
    now: ClockTime


class ClockRequest(StrictModel):
    """Body of `POST /v1/admin/clock`."""

    now: ClockTime = Field(description="The new simulated time, from 2000-01-01 until 2100-01-01 (UTC)")
