"""`staff.access`: one record per staff read of member-level data, on the `audit` topic
(docs/security.md, "Audit trail"). It says who read what and when — never the data that was read."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .common import EventId, ShortText, StrictModel, Timestamp

# What was read. Member-level data only: cohort aggregates (rates) are not audited.
AuditedResource = Literal[
    "call_queue",  # GET /v1/alerts (notifier): member ids, activity, call notes
    "alert",  # GET /v1/alerts/{id} (notifier)
    "member_engagement",  # GET /v1/members/{id}/engagement (notifier)
    "member_panel",  # GET /v1/members/{id}/panel (notifier): recent days, QLQ-C30 scores, call outcomes
    "member_list",  # GET /v1/cohorts/{cohort}/members (metrics)
    "survey_answers",  # GET /v1/cohorts/{cohort}/experience (survey free text)
    "survey_export",  # GET /v1/cohorts/{cohort}/experience.csv (survey free text, downloaded)
    "audit_trail",  # GET /v1/audit (metrics): who read which member's data is itself member-level
    "research_export",  # GET /v1/cohorts/{cohort}/export (metrics): member-level rows, pseudonymised
    "research_export_identified",  # the same with member ids (?identified=true, admins only)
]


class StaffAccess(StrictModel):
    """A staff member read member-level data. Written before the data is answered: a read that could
    not be recorded is not answered (503)."""

    type: Literal["staff.access"] = "staff.access"
    event_id: EventId
    occurred_at: Timestamp
    actor: ShortText = Field(description="The token's subject (staff id)")
    role: Literal["nurse", "researcher", "admin"]
    service: Literal["ingest", "metrics", "notifier", "survey"]
    resource: AuditedResource
    cohort: ShortText | None = Field(default=None, description="The cohort read, when the request named one")
    target: ShortText | None = Field(default=None, description="The member or alert id read, for a single record")
    returned: int = Field(ge=0, description="How many member-level records the answer held (not the records)")
