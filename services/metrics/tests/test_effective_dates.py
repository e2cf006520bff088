"""Changes take effect from their date (issue 13, metrics side): a zone change, a withdrawal dated in
the future, a re-enrolment after a withdrawal, a settings change with an effective date (tasks,
holidays, a make-up working Saturday) and a conflicting event id, through the real ingest API, broker
and chDB. Every expected number below is counted by hand from the events (the comments say how)."""

from __future__ import annotations

import time
import uuid

from .conftest import ingest_client, metrics_client, unique_prefix

BERLIN, SHANGHAI = "Europe/Berlin", "Asia/Shanghai"


def _event(member: str, at: str, kind: str = "login", payload: dict | None = None, event_id: str | None = None):
    return {"event_id": event_id or str(uuid.uuid4()), "type": kind, "member_id": member, "occurred_at": at,
            "payload": payload or {}}


def test_changes_take_effect_from_their_date(own_broker, jwt_secret, mint, admin_token, tmp_path):
    _, bootstrap = own_broker
    prefix = unique_prefix()
    cohort = f"eff-{prefix}"
    z, r, f = (f"{prefix}-{x}" for x in ("zone", "reenrol", "future"))
    admin = {"Authorization": f"Bearer {admin_token}"}
    nurse = {"Authorization": f"Bearer {mint('nurse-1', 'nurse', (cohort,))}"}
    conflict_id = str(uuid.uuid4())
    events = [
        # z lives in Berlin until 09-04 and in Shanghai from 09-05 (00:00 Shanghai = 09-04 16:00 UTC).
        _event(z, "2026-09-03T23:30:00+02:00", "checkin", {"task": "meal"}),  # Berlin 09-03: tasks {meal} → completed
        _event(z, "2026-09-04T17:30:00+02:00"),  # 15:30 UTC, before the change: Berlin 09-04
        _event(z, "2026-09-05T01:00:00+08:00"),  # Shanghai 09-05 (Berlin 09-04 19:00: the old rule's day)
        _event(z, "2026-09-08T10:00:00+08:00", "checkin", {"task": "meal"}),  # tasks {meal, exercise}: not completed
        # r withdrawn from 09-04, re-enrolled from 09-07: 09-04 … 09-06 are outside follow-up.
        _event(r, "2026-09-05T10:00:00+02:00"),  # in the gap: never counted
        _event(r, "2026-09-08T10:00:00+02:00"),
        # f withdrawn from 09-10 (announced on 09-02): its days until 09-09 count.
        _event(f, "2026-09-06T10:00:00+02:00", "checkin", {"task": "meal"}, conflict_id),
        _event(f, "2026-09-07T10:00:00+02:00", "checkin", {"task": "exercise"}, conflict_id),  # conflict: ignored
    ]
    with ingest_client(bootstrap, jwt_secret) as ingest, \
            metrics_client(bootstrap, jwt_secret, tmp_path / "chdb") as metrics:
        def ok(response):
            assert response.status_code == 202, response.text
            return response

        ok(ingest.post("/v1/admin/clock", json={"now": "2026-09-01T00:00:00+00:00"}, headers=admin))
        ok(ingest.put(f"/v1/cohorts/{cohort}/settings", json={"tasks": ["meal"], "ends_on": "2026-09-20"},
                      headers=admin))
        for member in (z, r, f):
            ok(ingest.post("/v1/enrollments", json={"member_id": member, "cohort": cohort, "timezone": BERLIN,
                                                    "enrolled_on": "2026-09-01"}, headers=admin))
        ok(ingest.post("/v1/admin/clock", json={"now": "2026-09-02T08:00:00+00:00"}, headers=admin))
        ok(ingest.put(f"/v1/members/{z}/timezone", json={"timezone": SHANGHAI, "effective_on": "2026-09-05"},
                      headers=admin))
        ok(ingest.post("/v1/withdrawals", json={"member_id": r, "cohort": cohort, "withdrawn_on": "2026-09-04"},
                       headers=admin))
        ok(ingest.post("/v1/enrollments", json={"member_id": r, "cohort": cohort, "timezone": BERLIN,
                                                "enrolled_on": "2026-09-07"}, headers=admin))
        ok(ingest.post("/v1/withdrawals", json={"member_id": f, "cohort": cohort, "withdrawn_on": "2026-09-10"},
                       headers=admin))
        # From 09-08: exercise is a task too, Wednesday 09-09 a holiday, Saturday 09-12 a working day.
        ok(ingest.put(f"/v1/cohorts/{cohort}/settings", params={"effective_on": "2026-09-08"}, headers=admin,
                      json={"tasks": ["meal", "exercise"], "ends_on": "2026-09-20", "holidays": ["2026-09-09"],
                            "working_days": ["2026-09-12"]}))
        for event in events:
            ok(ingest.post("/v1/events", json=event, headers=admin))
        ok(ingest.post("/v1/admin/clock", json={"now": "2026-09-14T12:00:00+00:00"}, headers=admin))

        ch = metrics.app.state.ch
        deadline = time.monotonic() + 90
        while ch.query("SELECT (SELECT count() FROM aggregated_events WHERE startsWith(member_id, {p:String})) AS e,"
                       "(SELECT count() FROM member_records WHERE cohort = {c:String}) AS m,"
                       "(SELECT max(now) = toDateTime64('2026-09-14 12:00:00', 3, 'UTC') FROM clock_ticks) AS t",
                       {"p": prefix, "c": cohort})[0] != {"e": len(events), "m": 9, "t": 1}:
            assert time.monotonic() < deadline, "sink did not catch up"
            time.sleep(0.2)

        def get(path: str, **params):
            response = metrics.get(f"/v1/cohorts/{cohort}/{path}", params=params, headers=nurse)
            assert response.status_code == 200, response.text
            return response.json()

        def rates(rows, *keys):
            return [tuple(row[k] for k in keys) for row in rows]

        cols = ("week", "member_days", "logged_in_days", "participated_days", "completed_days", "partial")
        # Complete days run through 09-13 in both zones (the tick is 09-14 in Berlin and in Shanghai).
        # Week 1 (09-01 … 09-07) in follow-up: z 7 days (logged 09-03, 09-04, 09-05), r 4 (09-01 … 03, 09-07),
        # f 7 (logged 09-06, meal done: completed under the tasks then in force).
        # Week 2 (09-08 … 09-13 complete): z 6 (logged 09-08, meal only: not completed), r 6 (09-08), f 2.
        assert rates(get("weekly"), *cols) == [(1, 18, 4, 2, 2, False), (2, 14, 2, 1, 0, True)]
        # Enrolled: every member's days (the gap and the days after f's withdrawal as not logged in).
        assert rates(get("weekly", denominator="enrolled"), *cols) == [(1, 21, 4, 2, 2, False), (2, 18, 2, 1, 0, True)]

        daily = {d["day"]: d for d in get("daily")}
        assert rates([daily["2026-09-04"], daily["2026-09-05"], daily["2026-09-09"], daily["2026-09-10"]],
                     "member_days", "logged_in_days") == [(2, 1), (2, 1), (3, 0), (2, 0)]
        assert daily["2026-09-14"]["partial"] and daily["2026-09-14"]["member_days"] == 0
        enrolled_daily = {d["day"]: d for d in get("daily", denominator="enrolled")}
        assert rates([enrolled_daily["2026-09-05"], enrolled_daily["2026-09-10"]], "member_days", "logged_in_days") \
            == [(3, 1), (3, 0)]

        members = {m["member_id"]: m for m in get("members")}
        assert rates([members[z], members[r], members[f]], "follow_up_days", "logged_in_days", "activity") == \
            [(13, 4, "pending"), (10, 1, "pending"), (9, 1, "insufficient")]
        assert members[z]["timezone"] == SHANGHAI and members[r]["enrolled_on"] == "2026-09-01"
        assert members[f]["withdrawn_on"] == "2026-09-10"

        # Non-working: Sat 09-05, Sun 09-06, the holiday Wed 09-09 (from 09-08), Sun 09-13; Sat 09-12 works.
        # z: 9 working / 4 not; r: 8 / 2; f: 6 / 3. Actions: z's check-ins (working), f's (non-working).
        types = {d["day_type"]: d for d in get("daytypes")}
        assert rates([types["working"], types["non-working"]], "member_days", "logged_in_days", "actions",
                     "members") == [(23, 4, 2, 3), (9, 2, 1, 3)]
        assert types["working"]["actions_per_member_mean"] == (2 / 9) / 3  # z 2/9, r 0, f 0
        intervention = {d["day_type"]: d for d in get("daytypes", stage="intervention")}
        assert intervention["working"]["member_days"] == 23  # every day so far is in the intervention stage
        assert get("daytypes", stage="open-ended") == []

        # The faust member-day state (real time) judges every day as ClickHouse does.
        from services.metrics import queries
        book = metrics.app.state.faust.book
        deadline = time.monotonic() + 90
        while sum(len(v) for (m, _), v in list(book.days.items()) if m.startswith(prefix)) < len(events) - 1 \
                or book.conflicts < 1:
            assert time.monotonic() < deadline, "faust did not apply every event"
            time.sleep(0.2)
        for row in queries.cohort_days(ch, cohort)[1]:
            d = book.day(row.member_id, row.day)
            assert (d.in_follow_up, d.day_number) == (row.in_follow_up, row.day_number), row
            if row.in_follow_up:
                assert (d.logged_in, d.participated, d.completed, d.actions) == \
                    (row.logged_in, row.participated, row.completed, row.actions), row
