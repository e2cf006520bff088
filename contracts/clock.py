"""`clock.tick`: time is an event (DESIGN.md §4)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .common import EventId, StrictModel, Timestamp


class ClockTick(StrictModel):
    """Simulated or real "now". Written once to every partition of `clock.ticks` so that each
    partition's processor sees time advance in order with its own members' events."""

    type: Literal["clock.tick"] = "clock.tick"
    event_id: EventId
    now: Timestamp


class ClockRequest(StrictModel):
    """Body of `POST /v1/admin/clock`."""

    now: Timestamp = Field(description="The new simulated time")
