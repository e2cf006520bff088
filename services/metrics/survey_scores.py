"""The survey half of the metrics service's Kafka → ClickHouse sink, and the query behind
`GET /v1/cohorts/{cohort}/qol`. The metrics service owns ClickHouse (one chDB process); it plugs
these in: `SURVEY_SCORES_DDL` as a migration, `survey_score_rows` as the converter of the `surveys`
topic (with `SURVEY_SCORES_SCHEMA` for its Arrow batches), `QOL_SCORES_SQL` + `qol_rows` +
`qol_analysis.qol_change` for the endpoint.

Only `survey.scored` and `survey.invited` become rows: numbers and dates, never the experience
survey's free text (`survey.responded` and the other schedule steps are skipped). Invitations are
the denominator of questionnaire completion per timepoint (`overview.py`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import timezone
from typing import Any

import pyarrow as pa
from pydantic import ValidationError

from contracts.surveys import SCALES, SurveyInvited, SurveyScored

from .qol_analysis import QolMemberRow

Row = dict[str, Any]

SURVEY_SCORES_DDL = f"""CREATE TABLE IF NOT EXISTS survey_scores (
    invitation_id String,
    response_id String,
    member_id String,
    cohort String,
    instrument LowCardinality(String),
    timepoint LowCardinality(String),
    occurred_at DateTime64(3, 'UTC'),
    {", ".join(f"{s} Nullable(Float64)" for s in SCALES)},
    summary Nullable(Float64) COMMENT 'QLQ-C30 summary score (Giesinger 2016)',
    items_answered UInt8,
    event_id String,
    kafka_partition UInt16,
    kafka_offset UInt64
) ENGINE = ReplacingMergeTree(kafka_offset) ORDER BY (cohort, member_id, invitation_id, response_id)"""
# Keyed by response: two responses to one invitation are two rows (a merge never drops the first);
# re-deliveries of one response collapse.

SURVEY_SCORES_SCHEMA = pa.schema(
    [pa.field("invitation_id", pa.string()), pa.field("response_id", pa.string()), pa.field("member_id", pa.string()),
     pa.field("cohort", pa.string()), pa.field("instrument", pa.string()), pa.field("timepoint", pa.string()),
     pa.field("occurred_at", pa.timestamp("ms", tz="UTC"))]
    + [pa.field(s, pa.float64()) for s in SCALES]
    + [pa.field("summary", pa.float64()), pa.field("items_answered", pa.uint8()), pa.field("event_id", pa.string()),
       pa.field("kafka_partition", pa.uint16()), pa.field("kafka_offset", pa.uint64())]
)

# One row per member and timepoint of a cohort: the FIRST COMPLETE response in log order (the lowest
# Kafka offset; a `survey.scored` record is a submitted, complete response — items may be skipped, as
# QLQ-C30 scoring allows), whatever later responses say (docs/metrics.md). The scores are taken as one
# tuple so that a scale missing (NULL) in that response stays missing.
_ALL = (*SCALES, "summary")
QOL_SCORES_SQL = (
    "SELECT member_id, timepoint, " + ", ".join(f"tupleElement(first, {i + 1}) AS {s}" for i, s in enumerate(_ALL)) +
    " FROM (SELECT member_id, timepoint, argMin(tuple(" + ", ".join(_ALL) + "), kafka_offset) AS first "
    "FROM survey_scores FINAL WHERE cohort = {cohort:String} AND instrument = 'qlq_c30' "
    "AND timepoint IN ('T0', 'T2') GROUP BY member_id, timepoint)"
)


SURVEY_INVITATIONS_DDL = """CREATE TABLE IF NOT EXISTS survey_invitations (
    invitation_id String,
    member_id String,
    cohort String,
    instrument LowCardinality(String),
    timepoint LowCardinality(String),
    invited_at DateTime64(3, 'UTC'),
    expires_at DateTime64(3, 'UTC'),
    kafka_partition UInt16,
    kafka_offset UInt64
) ENGINE = ReplacingMergeTree(kafka_offset) ORDER BY (cohort, member_id, invitation_id)"""
# One row per invitation (its id is deterministic: a replayed step collapses on merge and FINAL).

SURVEY_INVITATIONS_SCHEMA = pa.schema(
    [pa.field("invitation_id", pa.string()), pa.field("member_id", pa.string()), pa.field("cohort", pa.string()),
     pa.field("instrument", pa.string()), pa.field("timepoint", pa.string()),
     pa.field("invited_at", pa.timestamp("ms", tz="UTC")), pa.field("expires_at", pa.timestamp("ms", tz="UTC")),
     pa.field("kafka_partition", pa.uint16()), pa.field("kafka_offset", pa.uint64())]
)


class InvalidSurveyRecord(ValueError):
    """A `surveys` record that cannot be read (the sink's dead-letter path)."""


def survey_score_rows(value: bytes, partition: int, offset: int) -> list[tuple[str, Row]]:
    """Converter for the `surveys` topic: a `survey.scored` record → one `survey_scores` row, a
    `survey.invited` record → one `survey_invitations` row."""
    if b'"survey.invited"' in value:
        return _invitation_rows(value, partition, offset)
    if b'"survey.scored"' not in value:  # cheap skip of every other survey.* type (and their text)
        return []
    try:
        scored = SurveyScored.model_validate_json(value)
    except ValidationError as exc:
        raise InvalidSurveyRecord(str(exc)) from None
    return [("survey_scores", {
        "invitation_id": str(scored.invitation_id), "response_id": str(scored.response_id),
        "member_id": scored.member_id, "cohort": scored.cohort, "instrument": scored.instrument,
        "timepoint": scored.timepoint, "occurred_at": scored.occurred_at.astimezone(timezone.utc),
        **scored.scores.model_dump(), "summary": scored.summary, "items_answered": scored.items_answered,
        "event_id": str(scored.event_id), "kafka_partition": partition, "kafka_offset": offset,
    })]


def _invitation_rows(value: bytes, partition: int, offset: int) -> list[tuple[str, Row]]:
    try:
        invited = SurveyInvited.model_validate_json(value)
    except ValidationError as exc:
        raise InvalidSurveyRecord(str(exc)) from None
    return [("survey_invitations", {
        "invitation_id": str(invited.invitation_id), "member_id": invited.member_id, "cohort": invited.cohort,
        "instrument": invited.instrument, "timepoint": invited.timepoint,
        "invited_at": invited.occurred_at.astimezone(timezone.utc),
        "expires_at": invited.expires_at.astimezone(timezone.utc),
        "kafka_partition": partition, "kafka_offset": offset,
    })]


def qol_rows(score_rows: Iterable[Mapping[str, Any]], active: Mapping[str, bool]) -> list[QolMemberRow]:
    """`QOL_SCORES_SQL` rows + each member's active flag (login rate over the first 28 follow-up days,
    `contracts.engagement.is_active`) → the input of `qol_analysis.qol_change`. Members without an
    active flag (not in the cohort's analysis set) are left out."""
    by_member: dict[str, dict[str, dict[str, float | None]]] = {}
    for row in score_rows:
        scores = {s: row.get(s) for s in (*SCALES, "summary")}
        by_member.setdefault(row["member_id"], {})[row["timepoint"]] = scores
    return [
        QolMemberRow(member_id=member, active=active[member], t0=points.get("T0", {}), t2=points.get("T2", {}))
        for member, points in sorted(by_member.items()) if member in active
    ]
