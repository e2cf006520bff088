"""Kafka record → ClickHouse rows, per catalogue topic (the topic-specific half of the sink).

Rules (which tasks an event marks, whether it is an action) come from `contracts.engagement`.
A converter returns `(table, row)` pairs; a record it cannot read raises `InvalidRecord`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from typing import Any

from pydantic import ValidationError

from contracts.clock import ClockTick
from contracts.engagement import is_action, tasks_marked
from contracts.erasure import MemberErased
from contracts.events import parse_recorded_event
from contracts.members import CohortConfigured, MemberEnrolled, MemberWithdrawn, parse_member_record
from contracts.topics import ALERTS, AUDIT, CLOCK_TICKS, ENGAGEMENT_EVENTS, MEMBER_ERASURES, MEMBERS, SURVEYS
from services.common.logging import error_summary
from services.metrics.alert_store import InvalidAlertRecord, alert_event_rows
from services.metrics.audit_store import InvalidAuditRecord, staff_access_rows
from services.metrics.erasure import ERASURE_TABLE
from services.metrics.survey_scores import InvalidSurveyRecord, survey_score_rows

Row = dict[str, Any]
Converter = Callable[[bytes, int, int], Iterable[tuple[str, Row]]]


class InvalidRecord(ValueError):
    pass


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(timezone.utc)


def engagement_event_rows(value: bytes, partition: int, offset: int) -> list[tuple[str, Row]]:
    try:
        event = parse_recorded_event(value)
    except ValidationError as exc:
        raise InvalidRecord(error_summary(exc)) from None
    return [("events", {
        "event_id": str(event.event_id), "member_id": event.member_id, "type": event.type,
        "occurred_at": _utc(event.occurred_at),
        "received_at": _utc(event.received_at or event.occurred_at),
        "tasks": sorted(tasks_marked(event)), "action": int(is_action(event)),
        "payload": event.payload.model_dump_json(), "kafka_partition": partition, "kafka_offset": offset,
    })]


def member_rows(value: bytes, partition: int, offset: int) -> list[tuple[str, Row]]:
    """Every record goes to `member_records` (the log the cohort calendar folds); enrolments,
    withdrawals and configurations also to their latest-value tables."""
    try:
        record = parse_member_record(value)
    except ValidationError as exc:
        raise InvalidRecord(error_summary(exc)) from None
    kafka = {"kafka_partition": partition, "kafka_offset": offset}
    logged = ("member_records", {"cohort": record.cohort, "member_id": getattr(record, "member_id", ""),
                                 "type": record.type, "record": record.model_dump_json(), **kafka})
    if isinstance(record, MemberEnrolled):
        e = record
        return [logged, ("enrolments", {"member_id": e.member_id, "cohort": e.cohort, "timezone": e.timezone,
                                        "enrolled_on": e.enrolled_on, "occurred_at": _utc(e.occurred_at),
                                        "event_id": str(e.event_id), **kafka})]
    if isinstance(record, MemberWithdrawn):
        w = record
        return [logged, ("withdrawals", {"member_id": w.member_id, "cohort": w.cohort, "withdrawn_on": w.withdrawn_on,
                                         "reason": w.reason, "occurred_at": _utc(w.occurred_at),
                                         "event_id": str(w.event_id), **kafka})]
    if isinstance(record, CohortConfigured):
        c, s = record, record.settings
        return [
            logged,
            (
                "cohorts",
                {
                    "cohort": c.cohort,
                    "tasks": list(s.tasks),
                    "intervention_weeks": s.intervention_weeks,
                    "active_login_threshold": s.active_login_threshold,
                    "ends_on": s.ends_on,
                    "holidays": list(s.holidays),
                    "settings": s.model_dump_json(),
                    "occurred_at": _utc(c.occurred_at),
                    "event_id": str(c.event_id),
                    **kafka,
                },
            ),
        ]
    return [logged]  # member.timezone_changed


def clock_rows(value: bytes, partition: int, offset: int) -> list[tuple[str, Row]]:
    try:
        tick = ClockTick.model_validate_json(value)
    except ValidationError as exc:
        raise InvalidRecord(error_summary(exc)) from None
    return [("clock_ticks", {"event_id": str(tick.event_id), "now": _utc(tick.now),
                             "kafka_partition": partition, "kafka_offset": offset})]


def survey_rows(value: bytes, partition: int, offset: int) -> list[tuple[str, Row]]:
    """`survey.scored` → `survey_scores`, `survey.invited` → `survey_invitations` (survey_scores.py
    defines the rows; other survey.* records, including the experience survey's free text, are skipped)."""
    try:
        return survey_score_rows(value, partition, offset)
    except InvalidSurveyRecord as exc:
        raise InvalidRecord(error_summary(exc)) from None


def audit_rows(value: bytes, partition: int, offset: int) -> list[tuple[str, Row]]:
    """`staff.access` → `staff_access` (docs/security.md, "Audit trail")."""
    try:
        return staff_access_rows(value, partition, offset)
    except InvalidAuditRecord as exc:
        raise InvalidRecord(str(exc)) from None


def alert_rows(value: bytes, partition: int, offset: int) -> list[tuple[str, Row]]:
    """`alerts` → `alert_events` (codes, dates, numbers; a call's note is never read: alert_store.py)."""
    try:
        return alert_event_rows(value, partition, offset)
    except InvalidAlertRecord as exc:
        raise InvalidRecord(str(exc)) from None


def erasure_rows(value: bytes, partition: int, offset: int) -> list[tuple[str, Row]]:
    """`member.erased` → one marker row the sink acts upon (`erasure.py`); nothing of it is stored."""
    try:
        erased = MemberErased.model_validate_json(value)
    except ValidationError as exc:
        raise InvalidRecord(error_summary(exc)) from None
    return [(ERASURE_TABLE, {"member_id": erased.member_id})]


# topic → converter, each with its table (schema.MIGRATIONS + schema.TABLE_SCHEMAS).
CONVERTERS: dict[str, Converter] = {
    ENGAGEMENT_EVENTS.name: engagement_event_rows,
    MEMBERS.name: member_rows,
    CLOCK_TICKS.name: clock_rows,
    SURVEYS.name: survey_rows,
    AUDIT.name: audit_rows,
    ALERTS.name: alert_rows,
    MEMBER_ERASURES.name: erasure_rows,
}
