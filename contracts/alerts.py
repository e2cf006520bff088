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

AlertKind = Literal["inactivity", "symptom"]
AlertRule = Literal["intervention_inactive", "open_ended_low_login_rate", "symptom_scores"]
CallOutcome = Literal["reached", "no_answer", "voicemail", "declined", "wrong_number"]
ResolveReason = Literal["active_again", "scores_improved", "withdrawn", "follow_up_ended", "manual"]
AlertId = Annotated[
    UUID, Field(description="uuid5 of member, rule and the start (first day or first timepoint) of the episode")
]
# Why a scale is flagged (docs/symptom-alerts.md): past its threshold for clinical importance, or
# worsened by at least the worsening setting since the member's previous scored timepoint.
ScaleReason = Literal["threshold", "worsening"]


class ScaleFinding(StrictModel):
    """One QLQ-C30 scale that crossed, with the value that crossed it."""

    scale: str = Field(max_length=8, description="QLQ-C30 scale code (contracts.surveys.SCALES)")
    value: float = Field(ge=0, le=100, description="Scale score at the judged timepoint (0-100)")
    reason: ScaleReason
    limit: float = Field(description="Threshold (reason threshold) or change in points (reason worsening)")
    previous: float | None = Field(default=None, description="Score at the previous timepoint (worsening only)")


class _AlertEvent(StrictModel):
    event_id: EventId
    alert_id: AlertId
    member_id: MemberId
    cohort: CohortId
    occurred_at: Timestamp = Field(description="Simulated time (latest clock.tick) of the step")


class AlertRaised(_AlertEvent):
    type: Literal["alert.raised"] = "alert.raised"
    kind: AlertKind = Field(
        default="inactivity", description="Records written before symptom alerts are inactivity alerts"
    )
    rule: AlertRule
    since: date = Field(
        description="First local day of the inactivity episode (symptom: day of the episode's first timepoint)"
    )
    through: date = Field(
        description="Last fully-over local day the rule was judged on (symptom: day of the judged timepoint)"
    )
    missed_days: int = Field(ge=0, description="Follow-up days without a login in the judged window (symptom: 0)")
    window_days: int = Field(ge=1, description="Length of the judged window (N days, or 7; symptom: 1)")
    timepoint: str | None = Field(default=None, max_length=8, description="Symptom: the judged QLQ-C30 timepoint")
    scales: tuple[ScaleFinding, ...] = Field(default=(), max_length=30,
                                             description="Symptom: every scale past its threshold or worsened")
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
