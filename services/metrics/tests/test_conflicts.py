"""Defect 1 of issue 13: an event is (member_id, event_id) and its first delivery in log order is the
event. A later delivery of the same key with different content is a conflict: counted in a metric,
never in a rate; the raw-event path, the insert-time aggregate and the faust state agree. Through the
real ingest API, the real broker and chDB."""

from __future__ import annotations

import time
import uuid
from datetime import date

from services.metrics import queries

from .conftest import ingest_client, metrics_client, unique_prefix


def _wait(predicate, what: str, timeout_s: float = 90.0):
    deadline = time.monotonic() + timeout_s
    while not (result := predicate()):
        assert time.monotonic() < deadline, what
        time.sleep(0.2)
    return result


def test_first_delivery_of_member_and_event_id_wins(own_broker, jwt_secret, mint, admin_token, tmp_path):
    _, bootstrap = own_broker
    prefix = unique_prefix()
    cohort, a, b = f"conf-{prefix}", f"{prefix}-a", f"{prefix}-b"
    shared_id = str(uuid.uuid4())
    admin = {"Authorization": f"Bearer {admin_token}"}
    nurse = {"Authorization": f"Bearer {mint('nurse-1', 'nurse', (cohort,))}"}
    first = {"event_id": shared_id, "type": "checkin", "member_id": a,
             "occurred_at": "2026-09-02T10:00:00+08:00", "payload": {"task": "meal"}}
    # The same key again, other day and task: a conflict (the first delivery stays the event).
    conflicting = {**first, "occurred_at": "2026-09-03T10:00:00+08:00", "payload": {"task": "exercise"}}
    # The same event id for ANOTHER member is another event.
    other_member = {"event_id": shared_id, "type": "login", "member_id": b,
                    "occurred_at": "2026-09-02T11:00:00+08:00", "payload": {}}
    with ingest_client(bootstrap, jwt_secret) as ingest, \
            metrics_client(bootstrap, jwt_secret, tmp_path / "chdb") as metrics:
        for member in (a, b):
            body = {"member_id": member, "cohort": cohort, "timezone": "Asia/Shanghai", "enrolled_on": "2026-09-01"}
            assert ingest.post("/v1/enrollments", json=body, headers=admin).status_code == 202
        for event in (first, conflicting, first, other_member):
            assert ingest.post("/v1/events", json=event, headers=admin).status_code == 202
        assert (
            ingest.post("/v1/admin/clock", json={"now": "2026-09-03T15:30:00+00:00"}, headers=admin).status_code == 202
        )
        ch = metrics.app.state.ch
        # Every delivery reached ClickHouse (the aggregate's seen keys: a's two contents, b's one) with the tick.
        # Distinct keys, not rows: the repeated first delivery is a row of its own until a background merge.
        _wait(lambda: ch.query("SELECT uniqExact(member_id, event_id, fingerprint) AS n FROM aggregated_events "
                               "WHERE startsWith(member_id, {p:String})", {"p": prefix})[0]["n"] == 3 and
              ch.query("SELECT count() AS n FROM clock_ticks")[0]["n"] >= 1, "sink did not write everything")

        daily = {d["day"]: d for d in metrics.get(f"/v1/cohorts/{cohort}/daily", headers=nurse).json()}
        assert [(d["member_days"], d["logged_in_days"], d["participated_days"]) for d in daily.values()] == \
            [(2, 0, 0), (2, 2, 1), (0, 0, 0)]  # 09-03 is under way (partial)
        assert daily["2026-09-02"]["participated_days"] == 1

        # Raw path and insert-time aggregate give the same numbers: the aggregate, which added both
        # deliveries, steps aside until the rollup refresh rewrites it from the stored first deliveries.
        assert not queries.aggregate_current(ch, cohort)
        queries.refresh_rollup(ch, cohort, 1)
        assert [d.model_dump(mode="json") for d in queries.daily(ch, cohort)] == list(daily.values())
        original = queries.aggregate_current
        queries.aggregate_current = lambda ch, cohort: False
        try:
            assert [d.model_dump(mode="json") for d in queries.daily(ch, cohort)] == list(daily.values())
        finally:
            queries.aggregate_current = original
        # Merging keeps the first delivery: the numbers do not move.
        ch.command("OPTIMIZE TABLE events FINAL")
        assert [d.model_dump(mode="json") for d in queries.daily(ch, cohort)] == list(daily.values())
        assert ch.query("SELECT payload FROM events FINAL WHERE member_id = {a:String}", {"a": a}) == \
            [{"payload": '{"task":"meal","steps":null}'}]

        # The faust state follows the same rule and counts the conflict in a metric.
        book = metrics.app.state.faust.books
        _wait(lambda: book.conflicts == 1, "faust did not see the conflict")
        assert book.day(a, date(2026, 9, 2)).tasks_done == ("meal",)
        assert not book.day(a, date(2026, 9, 3)).logged_in
        assert book.day(b, date(2026, 9, 2)).logged_in
        exported = metrics.get("/metrics").text
        assert "metrics_stream_event_conflicts_total" in exported
