"""Generate `contracts/schemas/*.json` and `topics.json` from the models (`python -m contracts.generate`).

`python -m contracts.generate --check` exits 1 when the checked-in files are stale (run by the tests).
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from . import alerts, audit, clock, daily, erasure, events, members, notifications, snapshots, surveys, topics

SCHEMA_DIR = Path(__file__).parent / "schemas"

# Every contract that crosses a process boundary; services add theirs here.
SCHEMAS: dict[str, Any] = {
    "client-event": events.ClientEvent,
    "member.enrolled": members.MemberEnrolled,
    "member.withdrawn": members.MemberWithdrawn,
    "cohort.configured": members.CohortConfigured,
    "member.timezone_changed": members.MemberTimezoneChanged,
    "clock.tick": clock.ClockTick,
    "notification.requested": notifications.NotificationRequested,
    "notification.delivered": notifications.NotificationDelivered,
    "notification.failed": notifications.NotificationFailed,
    "notification.skipped": notifications.NotificationSkipped,
    "notification.dead_letter": notifications.NotificationDeadLetter,
    "notification.replayed": notifications.NotificationReplayed,
    "survey.scheduled": surveys.SurveyScheduled,
    "survey.invited": surveys.SurveyInvited,
    "survey.reminded": surveys.SurveyReminded,
    "survey.expired": surveys.SurveyExpired,
    "survey.cancelled": surveys.SurveyCancelled,
    "survey.responded": surveys.SurveyResponded,
    "survey.scored": surveys.SurveyScored,
    "survey-response.qlq_c30": surveys.QlqC30Response,
    "survey-response.experience": surveys.ExperienceResponse,
    "alert.raised": alerts.AlertRaised,
    "alert.escalated": alerts.AlertEscalated,
    "alert.acknowledged": alerts.AlertAcknowledged,
    "call.logged": alerts.CallLogged,
    "alert.resolved": alerts.AlertResolved,
    "call-request": alerts.CallRequest,
    "engagement.day": daily.EngagementDay,
    "engagement.dead_letter": daily.EventDeadLetter,
    "staff.access": audit.StaffAccess,
    "member.key": erasure.MemberKey,
    "member.erased": erasure.MemberErased,
    "service.snapshot": snapshots.ServiceSnapshot,
}


def render() -> dict[str, str]:
    files = {
        f"{name}.json": json.dumps(TypeAdapter(model).json_schema(mode="validation"), indent=2, sort_keys=True) + "\n"
        for name, model in SCHEMAS.items()
    }
    catalogue = [dataclasses.asdict(t) | {"kafka_configs": t.kafka_configs()} for t in topics.CATALOGUE]
    files["topics.json"] = json.dumps(catalogue, indent=2, sort_keys=True) + "\n"
    return files


def stale_files() -> list[str]:
    wanted = render()
    present = {p.name for p in SCHEMA_DIR.glob("*.json")}
    stale = [n for n, text in wanted.items() if not (SCHEMA_DIR / n).exists() or (SCHEMA_DIR / n).read_text() != text]
    return sorted(stale + [n for n in present - wanted.keys()])


def main(argv: list[str]) -> int:
    if "--check" in argv:
        stale = stale_files()
        for name in stale:
            print(f"stale: contracts/schemas/{name} (run: python -m contracts.generate)", file=sys.stderr)
        return 1 if stale else 0
    SCHEMA_DIR.mkdir(exist_ok=True)
    for old in SCHEMA_DIR.glob("*.json"):
        old.unlink()
    for name, text in render().items():
        (SCHEMA_DIR / name).write_text(text)
    print(f"wrote {len(render())} files to {SCHEMA_DIR}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
