"""`alerts`: the nurse alert lifecycle and call outcomes (key: member_id).

The call queue of the notifier is a projection folded from this topic alone, so it can be rebuilt by
replaying it. Event ids of rule-made events (raised, escalated, auto-resolved) are derived from the
alert id (uuid5), so re-processing a clock tick after a crash re-creates the same events.

`call.logged.note` is staff free text: it stays on this topic for the call queue (authorised staff
only); it is never logged and must never be copied to analytics (the metrics sink drops it).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal, Union
from uuid import UUID

from pydantic import Field, TypeAdapter

from .common import CohortId, EventId, MemberId, StrictModel, Timestamp

AlertRule = Literal["intervention_inactive", "open_ended_low_login_rate"]
CallOutcome = Literal["reached", "no_answer", "voicemail", "declined", "wrong_number"]
ResolveReason = Literal["active_again", "withdrawn", "follow_up_ended", "manual"]
AlertId = Annotated[UUID, Field(description="uuid5 of member, rule and the first day of the inactivity episode")]


class _AlertEvent(StrictModel):
    event_id: EventId
    alert_id: AlertId
    member_id: MemberId
    cohort: CohortId
    occurred_at: Timestamp = Field(description="Simulated time (latest clock.tick) of the step")


class AlertRaised(_AlertEvent):
    type: Literal["alert.raised"] = "alert.raised"
    rule: AlertRule
    since: date = Field(description="First local day of the inactivity episode")
    through: date = Field(description="Last fully-over local day the rule was judged on")
    missed_days: int = Field(ge=0, description="Follow-up days without a login in the judged window")
    window_days: int = Field(ge=1, description="Length of the judged window (N days, or 7)")
    last_login_on: date | None = Field(description="Member's last local day with a login before the alert")
    assigned_to: MemberId | None = Field(description="Nurse (staff id) the alert is assigned to")


class AlertEscalated(_AlertEvent):
    type: Literal["alert.escalated"] = "alert.escalated"
    assigned_to: MemberId | None
    lead_nurse: MemberId | None = Field(description="Cohort's lead nurse, flagged by the escalation")


class AlertAcknowledged(_AlertEvent):
    type: Literal["alert.acknowledged"] = "alert.acknowledged"
    by: MemberId = Field(description="Staff id that acknowledged")


class CallLogged(_AlertEvent):
    type: Literal["call.logged"] = "call.logged"
    by: MemberId
    outcome: CallOutcome
    note: str | None = Field(default=None, max_length=8000,
                             description="Staff free text: call queue only; never logged, never to analytics. "
                                         "Written encrypted with the member's data key (`enc:v1:...`, "
                                         "docs/erasure.md): erasing the member makes it unreadable")


class AlertResolved(_AlertEvent):
    type: Literal["alert.resolved"] = "alert.resolved"
    reason: ResolveReason
    by: MemberId | None = Field(default=None, description="Staff id for a manual resolution, null when automatic")


AlertEvent = Annotated[
    Union[AlertRaised, AlertEscalated, AlertAcknowledged, CallLogged, AlertResolved], Field(discriminator="type")
]
alert_event_adapter: TypeAdapter = TypeAdapter(AlertEvent)
ALERT_EVENT_TYPES = ("alert.raised", "alert.escalated", "alert.acknowledged", "call.logged", "alert.resolved")


class CallRequest(StrictModel):
    """Body of `POST /v1/alerts/{id}/calls`."""

    outcome: CallOutcome
    note: str | None = Field(default=None, max_length=1000, description="Staff free text (never logged)")


class ResolveRequest(StrictModel):
    """Optional body of `POST /v1/alerts/{id}/resolve`."""

    reason: Literal["manual"] = "manual"
