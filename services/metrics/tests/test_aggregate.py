"""`member_day_events` (schema migration 4): the per member-day aggregate ClickHouse maintains at insert
time answers the API only while it matches the raw events exactly; otherwise the raw events answer.
Real chDB, rows made by the sink's own converters from a generated cohort with known ground truth."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone

import pytest

from services.metrics import queries
from services.metrics.clickhouse import connect
from services.metrics.rows import engagement_event_rows, member_rows
from services.metrics.schema import TABLE_SCHEMAS, migrate
from testsupport.cohort import generate, truth_daily, truth_daytypes, truth_weekly

NOW = datetime(2026, 11, 1, tzinfo=timezone.utc).isoformat()


@pytest.fixture()
def ch(tmp_path):
    client = connect(f"chdb://{tmp_path}/chdb")
    migrate(client)
    yield client
    client.close()


def insert(ch, table_rows: list[tuple[str, dict]]) -> None:
    by_table: dict[str, list[dict]] = {}
    for table, row in table_rows:
        by_table.setdefault(table, []).append(row)
    for table, rows in by_table.items():
        schema = TABLE_SCHEMAS[table]
        ch.insert(table, {name: [r[name] for r in rows] for name in schema.names}, schema)


def member_record(body: dict, kind: str) -> bytes:
    return json.dumps({"type": kind, "event_id": str(uuid.uuid4()), "occurred_at": NOW, **body}).encode()


def numbers(ch, cohort: str, use_aggregate: bool | None = None) -> dict:
    """Every published figure; `use_aggregate=False` forces the raw-event definition."""
    original = queries.aggregate_current
    if use_aggregate is False:
        queries.aggregate_current = lambda ch, cohort: False
    try:
        return {"weekly": [w.model_dump(mode="json") for w in queries.weekly(ch, cohort)],
                "daily": [d.model_dump(mode="json") for d in queries.daily(ch, cohort)],
                "members": [m.model_dump(mode="json") for m in queries.members(ch, cohort)],
                "daytypes": [d.model_dump(mode="json") for d in queries.daytypes(ch, cohort)]}
    finally:
        queries.aggregate_current = original


def test_aggregate_answers_exactly_and_only_while_it_matches_the_raw_events(ch):
    g = generate(seed=5, members=9, weeks=4, cohort="agg")
    settings = member_record({"cohort": g.cohort, "settings": g.settings}, "cohort.configured")
    insert(ch, member_rows(settings, 0, 0))
    for i, body in enumerate(g.enrolments[1:]):
        insert(ch, member_rows(member_record(body, "member.enrolled"), 0, i + 1))
    for i, body in enumerate(g.withdrawals):
        insert(ch, member_rows(member_record(body, "member.withdrawn"), 0, 100 + i))
    # Events (duplicates and late ones included) in three batches, before the first member's enrolment.
    rows = [r for i, e in enumerate(g.deliveries) for r in engagement_event_rows(json.dumps(e).encode(), 1, i)]
    third = len(rows) // 3
    for batch in (rows[:third], rows[third:2 * third], rows[2 * third:]):
        insert(ch, batch)
    insert(ch, member_rows(member_record(g.enrolments[0], "member.enrolled"), 0, 50))
    insert(ch, [("clock_ticks", {"event_id": "t", "now": g.now, "kafka_partition": 0, "kafka_offset": 0})])

    # The late member's events were bucketed before any time zone was known: the raw events answer.
    assert not queries.aggregate_current(ch, g.cohort)
    raw = numbers(ch, g.cohort, use_aggregate=False)
    assert raw["weekly"] == truth_weekly(g)
    assert raw["daily"] == truth_daily(g)
    assert numbers(ch, g.cohort) == raw

    # The rollup refresh rewrites the cohort's aggregate; it now answers, with identical numbers.
    queries.refresh_rollup(ch, g.cohort, 1)
    assert queries.aggregate_current(ch, g.cohort)
    fast = numbers(ch, g.cohort)
    assert fast == raw
    assert [{k: v for k, v in d.items() if k in t} for d, t in zip(fast["daytypes"], truth_daytypes(g))] \
        == truth_daytypes(g)

    # Replaying rows already stored (at-least-once sink, rebuild) or merging duplicates away keeps it
    # current and exact.
    insert(ch, rows[:third])
    assert queries.aggregate_current(ch, g.cohort)
    assert numbers(ch, g.cohort) == raw

    ch.command("OPTIMIZE TABLE events FINAL")
    assert queries.aggregate_current(ch, g.cohort)
    assert numbers(ch, g.cohort) == raw

    # Rows leaving `events` (a deletion) make the raw events answer until the refresh repairs it.
    ch.command("ALTER TABLE events DELETE WHERE kafka_offset % 7 = 0 SETTINGS mutations_sync = 1")
    assert not queries.aggregate_current(ch, g.cohort)
    damaged = numbers(ch, g.cohort, use_aggregate=False)
    assert damaged != raw
    assert numbers(ch, g.cohort) == damaged
    queries.refresh_rollup(ch, g.cohort, 3)
    assert queries.aggregate_current(ch, g.cohort)
    assert numbers(ch, g.cohort) == damaged

    # A member moving to another time zone: the aggregate's days are in the old zone, so it steps aside.
    moved = {**g.enrolments[1], "timezone": "Pacific/Kiritimati"}
    insert(ch, member_rows(member_record(moved, "member.enrolled"), 0, 200))
    assert not queries.aggregate_current(ch, g.cohort)
    moved_raw = numbers(ch, g.cohort, use_aggregate=False)
    assert numbers(ch, g.cohort) == moved_raw
    queries.refresh_rollup(ch, g.cohort, 4)
    assert queries.aggregate_current(ch, g.cohort)
    assert numbers(ch, g.cohort) == moved_raw
