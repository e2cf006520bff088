"""Raw topic records for tests that write the log directly (JSON as a producer would send it)."""

from __future__ import annotations

import json
from uuid import uuid4

from contracts.topics import MEMBERS
from services.common.kafka import Record


def enrolments(members: range, cohort: str = "c-1", zone: str = "Asia/Shanghai",
               enrolled_on: str = "2026-11-02") -> list[Record]:
    """`member.enrolled` of members m-<i> for i in `members`, keyed by member."""
    return [Record(MEMBERS.name, f"m-{i}".encode(), json.dumps({
        "type": "member.enrolled", "event_id": str(uuid4()), "member_id": f"m-{i}", "cohort": cohort,
        "timezone": zone, "enrolled_on": enrolled_on, "occurred_at": "2026-11-01T00:00:00+00:00",
    }).encode()) for i in members]
