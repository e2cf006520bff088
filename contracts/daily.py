"""What the metrics service publishes from its real-time member-day state.

* `engagement.day` on `engagement.daily` (compacted, key `member_id|YYYY-MM-DD`): the latest state of a
  member-day, re-published whenever it changes. Idempotent: replaying the log publishes the same value
  for the same key, so a consumer keeps the last value per key.
* `dead_letter` on `engagement.events.dlq` (key member_id): a client event that could not be applied,
  with the reason; an event of a not-yet-enrolled member is re-applied when the enrolment arrives.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import Field

from .common import CohortId, EventId, MemberId, StrictModel, Timestamp


class EngagementDay(StrictModel):
    type: Literal["engagement.day"] = "engagement.day"
    member_id: MemberId
    cohort: CohortId
    day: date = Field(description="Local calendar day in the member's time zone")
    day_number: int = Field(description="Follow-up day number (enrolment day = 1; ≤ 0 before enrolment)")
    in_follow_up: bool = Field(description="Enrolled and not withdrawn on this day, within the cohort's end")
    logged_in: bool
    tasks_done: tuple[str, ...] = Field(description="Scheduled tasks marked done (sorted)")
    participated: bool
    completed: bool
    actions: int = Field(ge=0, description="Check-ins and meditation plays")
    events: int = Field(ge=0, description="Distinct events (by event_id) of this member-day")


class EventDeadLetter(StrictModel):
    type: Literal["dead_letter"] = "dead_letter"
    event_id: EventId
    member_id: MemberId
    reason: Literal["unknown_member"] = Field(description="unknown_member: no enrolment seen (yet)")
    detail: str
    event: dict = Field(description="The client event as recorded on engagement.events")
    dead_lettered_at: Timestamp
