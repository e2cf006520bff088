"""The audit trail in ClickHouse: the sink stores `audit` (staff.access records) in `staff_access`,
and admins query it with `GET /v1/audit` (docs/security.md, "Audit trail"). Same plug-in shape as
survey_scores: DDL for a migration, an Arrow schema, a converter for the sink, the query."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pyarrow as pa
from pydantic import ValidationError

from contracts.audit import StaffAccess
from services.common.logging import error_summary

from .clickhouse import ClickHouse

STAFF_ACCESS_DDL = """CREATE TABLE IF NOT EXISTS staff_access (
    event_id String,
    occurred_at DateTime64(3, 'UTC'),
    actor String,
    role LowCardinality(String),
    service LowCardinality(String),
    resource LowCardinality(String),
    cohort String COMMENT 'empty: the request named no cohort',
    target String COMMENT 'member or alert id of a single-record read; empty otherwise',
    returned UInt32,
    kafka_partition UInt16,
    kafka_offset UInt64
) ENGINE = ReplacingMergeTree ORDER BY (occurred_at, event_id)"""

STAFF_ACCESS_SCHEMA = pa.schema([
    pa.field("event_id", pa.string()), pa.field("occurred_at", pa.timestamp("ms", tz="UTC")),
    pa.field("actor", pa.string()), pa.field("role", pa.string()), pa.field("service", pa.string()),
    pa.field("resource", pa.string()), pa.field("cohort", pa.string()), pa.field("target", pa.string()),
    pa.field("returned", pa.uint32()), pa.field("kafka_partition", pa.uint16()), pa.field("kafka_offset", pa.uint64()),
])


class InvalidAuditRecord(ValueError):
    pass


def staff_access_rows(value: bytes, partition: int, offset: int) -> list[tuple[str, dict[str, Any]]]:
    try:
        access = StaffAccess.model_validate_json(value)
    except ValidationError as exc:
        raise InvalidAuditRecord(error_summary(exc)) from None
    return [("staff_access", {
        "event_id": str(access.event_id), "occurred_at": access.occurred_at.astimezone(timezone.utc),
        "actor": access.actor, "role": access.role, "service": access.service, "resource": access.resource,
        "cohort": access.cohort or "", "target": access.target or "", "returned": access.returned,
        "kafka_partition": partition, "kafka_offset": offset,
    })]


def audit_entries(ch: ClickHouse, actor: str | None, target: str | None, cohort: str | None,
                  since: datetime | None, until: datetime | None, limit: int) -> list[dict[str, Any]]:
    """Newest first; each record once (GROUP BY event_id: the sink is at-least-once)."""
    where, params = ["1"], {"limit": limit}
    for column, value in (("actor", actor), ("target", target), ("cohort", cohort)):
        if value is not None:
            where.append(f"{column} = {{{column}:String}}")
            params[column] = value
    if since is not None:
        where.append("occurred_at >= parseDateTime64BestEffort({since:String}, 3, 'UTC')")
        params["since"] = since.astimezone(timezone.utc).isoformat()
    if until is not None:
        where.append("occurred_at < parseDateTime64BestEffort({until:String}, 3, 'UTC')")
        params["until"] = until.astimezone(timezone.utc).isoformat()
    rows = ch.query(
        f"""SELECT event_id, any(occurred_at) AS occurred_at, any(actor) AS actor, any(role) AS role,
                   any(service) AS service, any(resource) AS resource, any(cohort) AS cohort,
                   any(target) AS target, any(returned) AS returned
            FROM (SELECT * FROM staff_access WHERE {" AND ".join(where)})
            GROUP BY event_id ORDER BY occurred_at DESC, event_id LIMIT {{limit:UInt32}}""", params)
    return [r | {"cohort": r["cohort"] or None, "target": r["target"] or None} for r in rows]
