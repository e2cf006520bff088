"""Migrations 5–7 on a store written by the earlier schema (real chDB): rows are kept, `events` keeps
the first delivery on merge from then on, and the members records already stored are in `member_records`."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone

from services.metrics import schema
from services.metrics.clickhouse import connect
from services.metrics.rows import engagement_event_rows, member_rows

NOW = datetime(2026, 9, 1, tzinfo=timezone.utc).isoformat()


def test_upgrading_keeps_rows_and_first_delivery_wins_after(tmp_path, monkeypatch):
    ch = connect(f"chdb://{tmp_path}/chdb")
    try:
        monkeypatch.setattr(schema, "MIGRATIONS", schema.MIGRATIONS[:4])
        assert schema.migrate(ch) == [1, 2, 3, 4]
        enrolment = json.dumps({"type": "member.enrolled", "event_id": str(uuid.uuid4()), "member_id": "m-1",
                                "cohort": "c", "timezone": "UTC", "enrolled_on": "2026-09-01", "occurred_at": NOW})
        rows = [row for table, row in member_rows(enrolment.encode(), 0, 7) if table == "enrolments"]
        ch.insert("enrolments", {n: [r[n] for r in rows] for n in schema.TABLE_SCHEMAS["enrolments"].names},
                  schema.TABLE_SCHEMAS["enrolments"])
        event = {"event_id": str(uuid.uuid4()), "type": "checkin", "member_id": "m-1",
                 "occurred_at": "2026-09-01T10:00:00+00:00", "payload": {"task": "meal"}}
        first = engagement_event_rows(json.dumps(event).encode(), 0, 10)[0][1]
        ch.insert("events", {n: [first[n]] for n in schema.TABLE_SCHEMAS["events"].names}, schema.TABLE_SCHEMAS["events"])

        monkeypatch.undo()
        assert schema.migrate(ch)[:3] == [5, 6, 7]  # and any later migration
        assert schema.migrate(ch) == []
        later = engagement_event_rows(json.dumps({**event, "payload": {"task": "exercise"}}).encode(), 0, 11)[0][1]
        ch.insert("events", {n: [later[n]] for n in schema.TABLE_SCHEMAS["events"].names}, schema.TABLE_SCHEMAS["events"])
        ch.command("OPTIMIZE TABLE events FINAL")
        assert ch.query("SELECT tasks, kafka_offset FROM events") == [{"tasks": ["meal"], "kafka_offset": 10}]
        assert ch.query("SELECT type, kafka_offset FROM member_records") == \
            [{"type": "member.enrolled", "kafka_offset": 7}]
        assert "response_id" in ch.query("SELECT sorting_key FROM system.tables WHERE database = currentDatabase() "
                                         "AND name = 'survey_scores'")[0]["sorting_key"]
    finally:
        ch.close()
