"""The versioned ClickHouse schema: migrations applied idempotently at start-up.

Every table is a ReplacingMergeTree: a record written twice (at-least-once sink, replays, rebuilds)
collapses to one row on merge, and every published query also de-duplicates at read time
(`FINAL` or `GROUP BY member_id, event_id`), so duplicates never count even before a merge.

An engagement event is (`member_id`, `event_id`) and its FIRST delivery in log order is the event
(docs/metrics.md, "Duplicates and conflicts"): `events` keeps, on merge, the row of the lowest Kafka
offset (version column `first_delivery`, migration 5), and the read-time de-duplication takes the same
row (`argMin(…, kafka_offset)`), so merged or not the numbers are those of the first delivery.
"""

from __future__ import annotations

import re

import pyarrow as pa

from services.metrics.alert_store import ALERT_EVENTS_DDL, ALERT_EVENTS_SCHEMA, ALERT_EVENTS_TABLE, ALERTS_VIEW_DDL
from services.metrics.audit_store import STAFF_ACCESS_DDL, STAFF_ACCESS_SCHEMA
from services.metrics.survey_scores import (
    SURVEY_INVITATIONS_DDL,
    SURVEY_INVITATIONS_SCHEMA,
    SURVEY_SCORES_DDL,
    SURVEY_SCORES_SCHEMA,
)

from .clickhouse import ClickHouse

_EVENTS_WITH_ZONE = """
    FROM events AS ev LEFT JOIN (SELECT member_id, timezone FROM enrolments FINAL) AS z ON ev.member_id = z.member_id"""
_LOCAL_DAY = "toDate(formatDateTime(ev.occurred_at, '%F', if(z.timezone = '', 'UTC', z.timezone)))"

# Migrations 4-10: per member-day engagement of the raw events as ClickHouse aggregate states.
_MEMBER_DAY_STATES_SELECT = f"""
    SELECT ev.member_id AS member_id, z.timezone AS timezone, {_LOCAL_DAY} AS day,
           groupUniqArrayArrayState(ev.tasks) AS tasks, uniqExactIfState(ev.event_id, ev.action) AS actions
    {_EVENTS_WITH_ZONE}"""

# Per member-day engagement of the raw events (migration 11 on), bucketed by the member's local day
# (time zone of the enrolment known when the event was inserted; '' when none yet): the set of tasks
# marked and the set of action events (SipHash128 of the event id, the hash `uniqExact` keeps too).
# Sets, so a duplicate or replayed row changes no number. Plain arrays (SimpleAggregateFunction), not
# aggregate states: a request reads them with FINAL and no state to decode, ~3x faster than the states
# of migration 4 (docs/metrics.md "How answers are computed"). `aggregated_events` keeps the (member,
# event id) keys the aggregate has seen, to tell whether it still matches `events`:
# `queries.aggregate_current` decides per cohort whether it may answer.
MEMBER_DAY_EVENTS_SELECT = f"""
    SELECT ev.member_id AS member_id, z.timezone AS timezone, {_LOCAL_DAY} AS day,
           groupUniqArrayArray(ev.tasks) AS tasks,
           groupUniqArrayArray(if(ev.action != 0, [sipHash128(ev.event_id)], [])) AS actions
    {_EVENTS_WITH_ZONE}"""

_MEMBER_DAY_SETS_DDL = """CREATE TABLE IF NOT EXISTS member_day_events (
            member_id String,
            timezone LowCardinality(String) COMMENT 'enrolment zone when inserted; empty: not enrolled yet',
            day Date COMMENT 'local day in that zone',
            tasks SimpleAggregateFunction(groupUniqArrayArray, Array(String)) COMMENT 'tasks marked',
            actions SimpleAggregateFunction(groupUniqArrayArray, Array(FixedString(16)))
                COMMENT 'sipHash128 of each action event id'
        ) ENGINE = AggregatingMergeTree ORDER BY (member_id, timezone, day)"""

# What of an event the member-day aggregate depends on: two deliveries of one (member, event id) that
# differ here are a conflict, and the aggregate (which adds both) may not answer for the cohort.
EVENT_FINGERPRINT = "cityHash64(occurred_at, tasks, action)"

EVENTS_COLUMNS = """
            event_id String,
            member_id String,
            type LowCardinality(String),
            occurred_at DateTime64(3, 'UTC'),
            received_at DateTime64(3, 'UTC'),
            tasks Array(LowCardinality(String)) COMMENT 'contracts.engagement.tasks_marked',
            action UInt8 COMMENT 'contracts.engagement.is_action',
            payload String,
            kafka_partition UInt16,
            kafka_offset UInt64"""


def _events_first_delivery_ddl() -> str:
    return f"""CREATE TABLE IF NOT EXISTS events_first_delivery ({EVENTS_COLUMNS},
            first_delivery UInt64 MATERIALIZED 18446744073709551615 - kafka_offset
                COMMENT 'ReplacingMergeTree keeps the highest: the lowest offset, the first delivery'
        ) ENGINE = ReplacingMergeTree(first_delivery) ORDER BY (member_id, event_id)"""


def _events_keep_first_delivery(ch: ClickHouse, ddl) -> None:
    """Migration 5: `events` becomes ReplacingMergeTree(first_delivery) (the lowest offset survives a
    merge; before, the LAST inserted row did). Rows are copied into a table with the new engine, which
    then takes the name; a re-run after a crash finds the new engine (or the copy) and goes on."""
    engine = ch.query("SELECT engine_full FROM system.tables WHERE database = currentDatabase() AND name = 'events'")
    if engine and "first_delivery" in engine[0]["engine_full"]:
        return
    ch.command(ddl(_events_first_delivery_ddl()))
    if engine:
        ch.command("INSERT INTO events_first_delivery SELECT * FROM events")
        ch.command("DROP TABLE events")
    ch.command("RENAME TABLE events_first_delivery TO events")


_SURVEY_SCORES_BY_RESPONSE_DDL = SURVEY_SCORES_DDL.replace("EXISTS survey_scores", "EXISTS survey_scores_by_response")


def _survey_scores_by_response(ch: ClickHouse, ddl) -> None:
    """Migration 7: `survey_scores` ordered by (…, invitation_id, response_id), so that a second response
    to an invitation no longer replaces the first on merge. Copy, then take the name (re-runnable)."""
    key = ch.query(
        "SELECT sorting_key FROM system.tables WHERE database = currentDatabase() AND name = 'survey_scores'"
    )
    if key and "response_id" in key[0]["sorting_key"]:
        return
    ch.command(ddl(_SURVEY_SCORES_BY_RESPONSE_DDL))
    if key:
        ch.command("INSERT INTO survey_scores_by_response SELECT * FROM survey_scores")
        ch.command("DROP TABLE survey_scores")
    ch.command("RENAME TABLE survey_scores_by_response TO survey_scores")


def _copy_member_records(ch: ClickHouse, ddl) -> None:
    """Migration 6: the records already stored in `enrolments`, `withdrawals`, `cohorts` (idempotent:
    the same key (cohort, partition, offset) replaces itself)."""
    from contracts.members import CohortConfigured, CohortSettings, MemberEnrolled, MemberWithdrawn

    rows = []
    for r in ch.query("SELECT * FROM enrolments"):
        e = MemberEnrolled(event_id=r["event_id"], member_id=r["member_id"], cohort=r["cohort"],
                           timezone=r["timezone"], enrolled_on=r["enrolled_on"], occurred_at=r["occurred_at"])
        rows.append((e.cohort, e.member_id, e.type, e.model_dump_json(), r["kafka_partition"], r["kafka_offset"]))
    for r in ch.query("SELECT * FROM withdrawals"):
        w = MemberWithdrawn(event_id=r["event_id"], member_id=r["member_id"], cohort=r["cohort"],
                            withdrawn_on=r["withdrawn_on"], reason=r["reason"], occurred_at=r["occurred_at"])
        rows.append((w.cohort, w.member_id, w.type, w.model_dump_json(), r["kafka_partition"], r["kafka_offset"]))
    for r in ch.query("SELECT * FROM cohorts"):
        c = CohortConfigured(event_id=r["event_id"], cohort=r["cohort"], occurred_at=r["occurred_at"],
                             settings=CohortSettings.model_validate_json(r["settings"]))
        rows.append((c.cohort, "", c.type, c.model_dump_json(), r["kafka_partition"], r["kafka_offset"]))
    if rows:
        names = TABLE_SCHEMAS["member_records"].names
        ch.insert("member_records", {n: [row[i] for row in rows] for i, n in enumerate(names)},
                  TABLE_SCHEMAS["member_records"])


# What each look-before-you-act step may create (checked like the plain statements: tests/test_replicated_schema.py).
_events_keep_first_delivery.ddl = [_events_first_delivery_ddl()]
_survey_scores_by_response.ddl = [_SURVEY_SCORES_BY_RESPONSE_DDL]
_copy_member_records.ddl = []

MIGRATIONS: list[tuple[int, str, list]] = [
    (1, "raw events, members, cohorts, clock, sink offsets", [
        f"""CREATE TABLE IF NOT EXISTS events ({EVENTS_COLUMNS}
        ) ENGINE = ReplacingMergeTree ORDER BY (member_id, event_id)""",
        """CREATE TABLE IF NOT EXISTS enrolments (
            member_id String,
            cohort String,
            timezone LowCardinality(String),
            enrolled_on Date,
            occurred_at DateTime64(3, 'UTC'),
            event_id String,
            kafka_partition UInt16,
            kafka_offset UInt64
        ) ENGINE = ReplacingMergeTree(kafka_offset) ORDER BY member_id""",
        """CREATE TABLE IF NOT EXISTS withdrawals (
            member_id String,
            cohort String,
            withdrawn_on Date,
            reason LowCardinality(String),
            occurred_at DateTime64(3, 'UTC'),
            event_id String,
            kafka_partition UInt16,
            kafka_offset UInt64
        ) ENGINE = ReplacingMergeTree(kafka_offset) ORDER BY member_id""",
        """CREATE TABLE IF NOT EXISTS cohorts (
            cohort String,
            tasks Array(String),
            intervention_weeks UInt16,
            active_login_threshold Float64,
            ends_on Nullable(Date),
            holidays Array(Date),
            settings String,
            occurred_at DateTime64(3, 'UTC'),
            event_id String,
            kafka_partition UInt16,
            kafka_offset UInt64
        ) ENGINE = ReplacingMergeTree(kafka_offset) ORDER BY cohort""",
        """CREATE TABLE IF NOT EXISTS clock_ticks (
            event_id String,
            now DateTime64(3, 'UTC'),
            kafka_partition UInt16,
            kafka_offset UInt64
        ) ENGINE = ReplacingMergeTree ORDER BY (event_id, kafka_partition)""",
        """CREATE TABLE IF NOT EXISTS sink_offsets (
            topic String,
            partition UInt16,
            next_offset UInt64,
            written_at DateTime64(3, 'UTC')
        ) ENGINE = ReplacingMergeTree(next_offset) ORDER BY (topic, partition)""",
    ]),
    (2, "member-day rollup for dashboards (refreshed from the raw events by the service)", [
        """CREATE TABLE IF NOT EXISTS member_days (
            cohort String,
            member_id String,
            day Date,
            day_number UInt32,
            week UInt32,
            logged_in UInt8,
            participated UInt8,
            completed UInt8,
            actions UInt64,
            working UInt8,
            version UInt64 COMMENT 'refresh generation; only the newest of a cohort is current'
        ) ENGINE = ReplacingMergeTree(version) ORDER BY (cohort, member_id, day)""",
        """CREATE VIEW IF NOT EXISTS member_days_current AS
            SELECT * FROM member_days
            WHERE (cohort, version) IN (SELECT cohort, max(version) FROM member_days GROUP BY cohort)""",
    ]),
    (3, "QLQ-C30 scores from survey.scored (numbers only: free text never leaves the survey service)", [
        SURVEY_SCORES_DDL,
    ]),
    (4, "member-day aggregate states maintained by ClickHouse at insert time (fast exact API queries)", [
        """CREATE TABLE IF NOT EXISTS member_day_events (
            member_id String,
            timezone LowCardinality(String) COMMENT 'enrolment zone when inserted; empty: not enrolled yet',
            day Date COMMENT 'local day in that zone',
            tasks AggregateFunction(groupUniqArrayArray, Array(LowCardinality(String))),
            actions AggregateFunction(uniqExactIf, String, UInt8)
        ) ENGINE = AggregatingMergeTree ORDER BY (member_id, timezone, day)""",
        "CREATE MATERIALIZED VIEW IF NOT EXISTS member_day_events_mv TO member_day_events AS"
        f"{_MEMBER_DAY_STATES_SELECT} GROUP BY member_id, timezone, day",
        """CREATE TABLE IF NOT EXISTS aggregated_events (member_id String, event_id String)
            ENGINE = ReplacingMergeTree ORDER BY (member_id, event_id)""",
        "CREATE MATERIALIZED VIEW IF NOT EXISTS aggregated_events_mv TO aggregated_events AS "
        "SELECT member_id, event_id FROM events",
        # Events stored before this migration (an idempotent backfill: states are sets).
        f"INSERT INTO member_day_events {_MEMBER_DAY_STATES_SELECT} GROUP BY member_id, timezone, day",
        "INSERT INTO aggregated_events SELECT member_id, event_id FROM events",
    ]),
    (5, "first delivery wins: events keep the lowest offset; the aggregate's seen keys carry a fingerprint", [
        "DROP VIEW IF EXISTS member_day_events_mv",
        "DROP VIEW IF EXISTS aggregated_events_mv",
        _events_keep_first_delivery,
        "CREATE MATERIALIZED VIEW IF NOT EXISTS member_day_events_mv TO member_day_events AS"
        f"{_MEMBER_DAY_STATES_SELECT} GROUP BY member_id, timezone, day",
        # One row per (member, event id, fingerprint) seen: more rows than `events` has keys means a
        # key was delivered with different content (a conflict) or rows left `events`.
        "DROP TABLE IF EXISTS aggregated_events",
        """CREATE TABLE IF NOT EXISTS aggregated_events (member_id String, event_id String, fingerprint UInt64)
            ENGINE = ReplacingMergeTree ORDER BY (member_id, event_id, fingerprint)""",
        "CREATE MATERIALIZED VIEW IF NOT EXISTS aggregated_events_mv TO aggregated_events AS "
        f"SELECT member_id, event_id, {EVENT_FINGERPRINT} AS fingerprint FROM events",
        f"INSERT INTO aggregated_events SELECT member_id, event_id, {EVENT_FINGERPRINT} FROM events",
    ]),
    (6, "every members-topic record in log order (zone history, re-enrolments, effective-dated settings)", [
        # `enrolments`, `withdrawals`, `cohorts` keep each key's LATEST record; the calendar of a
        # cohort needs them all (contracts.timeline folds them in log order). Records stored before
        # this migration are copied as the records they were (zone changes did not exist then).
        """CREATE TABLE IF NOT EXISTS member_records (
            cohort String,
            member_id String COMMENT 'empty for cohort.configured',
            type LowCardinality(String),
            record String COMMENT 'the record as published (contracts.members.parse_member_record)',
            kafka_partition UInt16,
            kafka_offset UInt64
        ) ENGINE = ReplacingMergeTree ORDER BY (cohort, kafka_partition, kafka_offset)""",
        _copy_member_records,
    ]),
    (7, "survey scores keyed by response: the first complete response of a timepoint is its score", [
        _survey_scores_by_response,
    ]),
    (8, "audit trail of staff reads of member-level data (who, what, when; never the data)", [
        STAFF_ACCESS_DDL,
    ]),
    (9, "alert lifecycle from the alerts topic (codes, dates, numbers; never a call's note) and one row per alert", [
        ALERT_EVENTS_DDL,
        ALERTS_VIEW_DDL,
    ]),
    (10, "QLQ-C30 invitations from survey.invited (questionnaire completion per timepoint; dates only)", [
        SURVEY_INVITATIONS_DDL,
    ]),
    (11, "member-day aggregate as plain sets (read with FINAL, no aggregate state to decode per request)", [
        # Rebuilt from `events` (the sets are idempotent: rows the view adds while the backfill runs
        # change nothing). `aggregated_events` is kept: it still names every key the table has seen.
        "DROP VIEW IF EXISTS member_day_events_mv",
        "DROP TABLE IF EXISTS member_day_events",
        _MEMBER_DAY_SETS_DDL,
        "CREATE MATERIALIZED VIEW IF NOT EXISTS member_day_events_mv TO member_day_events AS"
        f"{MEMBER_DAY_EVENTS_SELECT} GROUP BY member_id, timezone, day",
        f"INSERT INTO member_day_events {MEMBER_DAY_EVENTS_SELECT} GROUP BY member_id, timezone, day",
    ]),
]

MIGRATIONS_TABLE = """CREATE TABLE IF NOT EXISTS schema_migrations (
    version UInt32, description String, applied_at DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = ReplacingMergeTree ORDER BY version"""


_MERGE_TREE_ENGINE = re.compile(r"\bENGINE\s*=\s*(?!Replicated)(\w*MergeTree)\b")


def replicated(statement: str) -> str:
    """The statement for a `Replicated` database (a ClickHouse server cluster): its DDL reaches every
    replica by itself, but only Replicated*MergeTree tables share their DATA, so each MergeTree-family
    engine gets its Replicated twin. No arguments: the database's default Keeper path and replica name."""
    return _MERGE_TREE_ENGINE.sub(r"ENGINE = Replicated\1", statement)


def database_is_replicated(ch: ClickHouse) -> bool:
    rows = ch.query("SELECT engine FROM system.databases WHERE name = currentDatabase()")
    return bool(rows) and rows[0]["engine"] == "Replicated"


def migrate(ch: ClickHouse) -> list[int]:
    """Apply the migrations not applied yet (each statement is idempotent); the versions applied.
    In a `Replicated` database every table is created replicated (see `replicated`)."""
    ddl = replicated if database_is_replicated(ch) else (lambda statement: statement)
    ch.command(ddl(MIGRATIONS_TABLE))
    done = {row["version"] for row in ch.query("SELECT version FROM schema_migrations FINAL")}
    applied = []
    for version, description, statements in MIGRATIONS:
        if version in done:
            continue
        for statement in statements:
            if callable(statement):  # a step that looks before it acts (idempotent on a re-run)
                statement(ch, ddl)
            else:
                ch.command(ddl(statement))
        ch.command("INSERT INTO schema_migrations (version, description) VALUES ({v:UInt32}, {d:String})",
                   {"v": version, "d": description})
        applied.append(version)
    return applied


# Filled at insert time by materialized views on `events`: emptied together with it on a rebuild.
INSERT_TIME_AGGREGATES = ("member_day_events", "aggregated_events")


def data_tables() -> list[str]:
    """Tables filled from Kafka (what the rebuild command empties and refills)."""
    return list(TABLE_SCHEMAS)


_KAFKA = [pa.field("kafka_partition", pa.uint16()), pa.field("kafka_offset", pa.uint64())]
_TS = pa.timestamp("ms", tz="UTC")

TABLE_SCHEMAS: dict[str, pa.Schema] = {
    "survey_scores": SURVEY_SCORES_SCHEMA,
    "survey_invitations": SURVEY_INVITATIONS_SCHEMA,
    "staff_access": STAFF_ACCESS_SCHEMA,
    ALERT_EVENTS_TABLE: ALERT_EVENTS_SCHEMA,
    "events": pa.schema([
        pa.field("event_id", pa.string()), pa.field("member_id", pa.string()), pa.field("type", pa.string()),
        pa.field("occurred_at", _TS), pa.field("received_at", _TS), pa.field("tasks", pa.list_(pa.string())),
        pa.field("action", pa.uint8()), pa.field("payload", pa.string()), *_KAFKA,
    ]),
    "enrolments": pa.schema([
        pa.field("member_id", pa.string()), pa.field("cohort", pa.string()), pa.field("timezone", pa.string()),
        pa.field("enrolled_on", pa.date32()), pa.field("occurred_at", _TS), pa.field("event_id", pa.string()),
        *_KAFKA,
    ]),
    "withdrawals": pa.schema([
        pa.field("member_id", pa.string()), pa.field("cohort", pa.string()), pa.field("withdrawn_on", pa.date32()),
        pa.field("reason", pa.string()), pa.field("occurred_at", _TS), pa.field("event_id", pa.string()), *_KAFKA,
    ]),
    "cohorts": pa.schema([
        pa.field("cohort", pa.string()), pa.field("tasks", pa.list_(pa.string())),
        pa.field("intervention_weeks", pa.uint16()), pa.field("active_login_threshold", pa.float64()),
        pa.field("ends_on", pa.date32()), pa.field("holidays", pa.list_(pa.date32())),
        pa.field("settings", pa.string()), pa.field("occurred_at", _TS), pa.field("event_id", pa.string()),
        *_KAFKA,
    ]),
    "clock_ticks": pa.schema([pa.field("event_id", pa.string()), pa.field("now", _TS), *_KAFKA]),
    "member_records": pa.schema([
        pa.field("cohort", pa.string()), pa.field("member_id", pa.string()), pa.field("type", pa.string()),
        pa.field("record", pa.string()), *_KAFKA,
    ]),
}

OFFSETS_SCHEMA = pa.schema([
    pa.field("topic", pa.string()), pa.field("partition", pa.uint16()), pa.field("next_offset", pa.uint64()),
    pa.field("written_at", _TS),
])
