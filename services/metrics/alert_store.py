"""The alert lifecycle in ClickHouse, for workload panels and the research export (docs/metrics.md,
"Alerts in ClickHouse"). Same plug-in shape as survey_scores: DDL for a migration, an Arrow schema, a
converter of the `alerts` topic for the sink.

`alert_events` keeps one row per alert step (raised, escalated, acknowledged, call logged, resolved):
codes, dates and numbers only. A call's `note` is staff free text and is never read into a row. The
view `alerts` folds the steps into one row per alert. An event is (`alert_id`, `event_id`) and its
first delivery in log order wins: the table keeps the lowest Kafka offset on merge (version column
`first_delivery`), and the view reads `argMin(…, kafka_offset)` so the numbers hold before a merge too.
One member's alerts are on one partition (the topic is keyed by member), so their offsets compare.
"""

from __future__ import annotations

from datetime import timezone
from typing import Any

import pyarrow as pa
from pydantic import ValidationError

from contracts.alerts import (
    AlertAcknowledged,
    AlertEscalated,
    AlertRaised,
    AlertResolved,
    CallLogged,
    alert_event_adapter,
)
from services.common.logging import error_summary

ALERT_EVENTS_TABLE = "alert_events"

ALERT_EVENTS_DDL = """CREATE TABLE IF NOT EXISTS alert_events (
    event_id String,
    alert_id String,
    member_id String,
    cohort String,
    type LowCardinality(String) COMMENT 'alert.raised|escalated|acknowledged, call.logged, alert.resolved',
    occurred_at DateTime64(3, 'UTC') COMMENT 'simulated time (latest clock.tick) of the step',
    kind LowCardinality(String) COMMENT 'raised: inactivity | symptom; empty on other steps',
    rule LowCardinality(String) COMMENT 'raised: the rule that fired; empty on other steps',
    since Nullable(Date) COMMENT 'raised: first local day of the episode',
    through Nullable(Date) COMMENT 'raised: last complete local day judged',
    missed_days Nullable(UInt16) COMMENT 'raised: days without a login in the judged window',
    timepoint LowCardinality(String) COMMENT 'raised (symptom): the judged QLQ-C30 timepoint',
    scales Array(LowCardinality(String)) COMMENT 'raised (symptom): codes of the scales past a limit',
    outcome LowCardinality(String) COMMENT 'call.logged: the outcome code; never the note',
    resolve_reason LowCardinality(String) COMMENT 'resolved: why',
    actor String COMMENT 'staff id that acknowledged, called or resolved by hand; empty when automatic',
    kafka_partition UInt16,
    kafka_offset UInt64,
    first_delivery UInt64 MATERIALIZED 18446744073709551615 - kafka_offset
        COMMENT 'ReplacingMergeTree keeps the highest: the lowest offset, the first delivery'
) ENGINE = ReplacingMergeTree(first_delivery) ORDER BY (cohort, member_id, alert_id, event_id)"""

# One row per alert. Inner query: each step's first delivery; outer: the steps folded per alert.
# A step that has not happened is NULL (acknowledged_at, resolved_at, ...).
ALERTS_VIEW_DDL = """CREATE VIEW IF NOT EXISTS alerts AS
SELECT cohort, member_id, alert_id,
       anyIf(kind, type = 'alert.raised') AS kind,
       anyIf(rule, type = 'alert.raised') AS rule,
       minIfOrNull(occurred_at, type = 'alert.raised') AS raised_at,
       anyIf(since, type = 'alert.raised') AS since,
       anyIf(through, type = 'alert.raised') AS through,
       anyIf(missed_days, type = 'alert.raised') AS missed_days,
       anyIf(timepoint, type = 'alert.raised') AS timepoint,
       anyIf(scales, type = 'alert.raised') AS scales,
       countIf(type = 'alert.escalated') > 0 AS escalated,
       minIfOrNull(occurred_at, type = 'alert.escalated') AS escalated_at,
       minIfOrNull(occurred_at, type = 'alert.acknowledged') AS acknowledged_at,
       argMinIf(actor, occurred_at, type = 'alert.acknowledged') AS acknowledged_by,
       countIf(type = 'call.logged') AS calls,
       arrayMap(c -> c.2, arraySort(groupArrayIf((occurred_at, outcome), type = 'call.logged'))) AS call_outcomes,
       minIfOrNull(occurred_at, type = 'alert.resolved') AS resolved_at,
       argMinIf(resolve_reason, occurred_at, type = 'alert.resolved') AS resolve_reason
FROM (
    SELECT cohort, member_id, alert_id, event_id,
           argMin(type, kafka_offset) AS type, argMin(occurred_at, kafka_offset) AS occurred_at,
           argMin(kind, kafka_offset) AS kind, argMin(rule, kafka_offset) AS rule,
           argMin(since, kafka_offset) AS since, argMin(through, kafka_offset) AS through,
           argMin(missed_days, kafka_offset) AS missed_days, argMin(timepoint, kafka_offset) AS timepoint,
           argMin(scales, kafka_offset) AS scales, argMin(outcome, kafka_offset) AS outcome,
           argMin(resolve_reason, kafka_offset) AS resolve_reason, argMin(actor, kafka_offset) AS actor
    FROM alert_events GROUP BY cohort, member_id, alert_id, event_id)
GROUP BY cohort, member_id, alert_id"""

ALERT_EVENTS_SCHEMA = pa.schema([
    pa.field("event_id", pa.string()), pa.field("alert_id", pa.string()), pa.field("member_id", pa.string()),
    pa.field("cohort", pa.string()), pa.field("type", pa.string()),
    pa.field("occurred_at", pa.timestamp("ms", tz="UTC")),
    pa.field("kind", pa.string()), pa.field("rule", pa.string()), pa.field("since", pa.date32()),
    pa.field("through", pa.date32()), pa.field("missed_days", pa.uint16()), pa.field("timepoint", pa.string()),
    pa.field("scales", pa.list_(pa.string())), pa.field("outcome", pa.string()),
    pa.field("resolve_reason", pa.string()), pa.field("actor", pa.string()),
    pa.field("kafka_partition", pa.uint16()), pa.field("kafka_offset", pa.uint64()),
])


class InvalidAlertRecord(ValueError):
    """An `alerts` record that cannot be read (counted and logged by the sink, by field only)."""


def alert_event_rows(value: bytes, partition: int, offset: int) -> list[tuple[str, dict[str, Any]]]:
    """Converter for the `alerts` topic: one row per step. Columns are picked one by one, so a field
    added to a contract later (or a call's note) never reaches ClickHouse by accident."""
    try:
        event = alert_event_adapter.validate_json(value)
    except ValidationError as exc:
        raise InvalidAlertRecord(error_summary(exc)) from None
    row: dict[str, Any] = {
        "event_id": str(event.event_id), "alert_id": str(event.alert_id), "member_id": event.member_id,
        "cohort": event.cohort, "type": event.type, "occurred_at": event.occurred_at.astimezone(timezone.utc),
        "kind": "", "rule": "", "since": None, "through": None, "missed_days": None, "timepoint": "",
        "scales": [], "outcome": "", "resolve_reason": "", "actor": "",
        "kafka_partition": partition, "kafka_offset": offset,
    }
    if isinstance(event, AlertRaised):
        row.update(kind=event.kind, rule=event.rule, since=event.since, through=event.through,
                   missed_days=event.missed_days, timepoint=event.timepoint or "",
                   scales=sorted({finding.scale for finding in event.scales}))
    elif isinstance(event, CallLogged):
        row.update(outcome=event.outcome, actor=event.by)  # event.note: free text, deliberately not read
    elif isinstance(event, AlertAcknowledged):
        row.update(actor=event.by)
    elif isinstance(event, AlertResolved):
        row.update(resolve_reason=event.reason, actor=event.by or "")
    elif not isinstance(event, AlertEscalated):  # a new step type: a contract change to decide on here
        raise InvalidAlertRecord(f"unknown alert step {event.type}")
    return [(ALERT_EVENTS_TABLE, row)]
