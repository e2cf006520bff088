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


def scenario(prefix: str) -> tuple[str, list[dict], list[tuple]]:
    """The cohort, its events, and every admin step in order: (method, path, body, params)."""
    cohort = f"eff-{prefix}"
    z, r, f = (f"{prefix}-{x}" for x in ("zone", "reenrol", "future"))
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
    steps = [("POST", "/v1/admin/clock", {"now": "2026-09-01T00:00:00+00:00"}, None),
             ("PUT", f"/v1/cohorts/{cohort}/settings", {"tasks": ["meal"], "ends_on": "2026-09-20"}, None)]
    steps += [("POST", "/v1/enrollments", {"member_id": m, "cohort": cohort, "timezone": BERLIN,
                                           "enrolled_on": "2026-09-01"}, None) for m in (z, r, f)]
    steps += [
        ("POST", "/v1/admin/clock", {"now": "2026-09-02T08:00:00+00:00"}, None),
        ("PUT", f"/v1/members/{z}/timezone", {"timezone": SHANGHAI, "effective_on": "2026-09-05"}, None),
        ("POST", "/v1/withdrawals", {"member_id": r, "cohort": cohort, "withdrawn_on": "2026-09-04"}, None),
        ("POST", "/v1/enrollments", {"member_id": r, "cohort": cohort, "timezone": BERLIN,
                                     "enrolled_on": "2026-09-07"}, None),
        ("POST", "/v1/withdrawals", {"member_id": f, "cohort": cohort, "withdrawn_on": "2026-09-10"}, None),
        # From 09-08: exercise is a task too, Wednesday 09-09 a holiday, Saturday 09-12 a working day.
        ("PUT", f"/v1/cohorts/{cohort}/settings", {"tasks": ["meal", "exercise"], "ends_on": "2026-09-20",
                                                   "holidays": ["2026-09-09"], "working_days": ["2026-09-12"]},
         {"effective_on": "2026-09-08"}),
    ]
    steps += [("POST", "/v1/events", event, None) for event in events]
    steps += [("POST", "/v1/admin/clock", {"now": "2026-09-14T12:00:00+00:00"}, None)]
    return cohort, events, steps


def run_steps(ingest, admin: dict, steps: list[tuple]) -> None:
    for method, path, body, params in steps:
        response = ingest.request(method, path, json=body, params=params, headers=admin)
        assert response.status_code == 202, response.text


def check_numbers(get, prefix: str) -> None:
    """Every number of /weekly (both denominators), /daily, /members, /daytypes, counted by hand."""
    z, r, f = (f"{prefix}-{x}" for x in ("zone", "reenrol", "future"))

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


def test_changes_take_effect_from_their_date(own_broker, jwt_secret, mint, admin_token, tmp_path):
    _, bootstrap = own_broker
    prefix = unique_prefix()
    cohort, events, steps = scenario(prefix)
    admin = {"Authorization": f"Bearer {admin_token}"}
    nurse = {"Authorization": f"Bearer {mint('nurse-1', 'nurse', (cohort,))}"}
    with ingest_client(bootstrap, jwt_secret) as ingest, \
            metrics_client(bootstrap, jwt_secret, tmp_path / "chdb") as metrics:
        run_steps(ingest, admin, steps)
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

        check_numbers(get, prefix)

        # The faust member-day state (real time) judges every day as ClickHouse does.
        from services.metrics import queries
        book = metrics.app.state.faust.books
        deadline = time.monotonic() + 90
        def folded() -> int:
            return sum(len(v) for b in book for (m, _), v in list(b.days.items()) if m.startswith(prefix))
        while folded() < len(events) - 1 or book.conflicts < 1:
            assert time.monotonic() < deadline, "faust did not apply every event"
            time.sleep(0.2)
        for row in queries.cohort_days(ch, cohort)[1]:
            d = book.day(row.member_id, row.day)
            assert (d.in_follow_up, d.day_number) == (row.in_follow_up, row.day_number), row
            if row.in_follow_up:
                assert (d.logged_in, d.participated, d.completed, d.actions) == \
                    (row.logged_in, row.participated, row.completed, row.actions), row


def test_the_same_numbers_after_a_sigkill_of_the_metrics_worker(own_broker, jwt_secret, mint, admin_token, tmp_path):
    """The whole metrics service (sink + faust + API) is SIGKILLed after the first half of the steps
    and restarted on the same chDB directory while the rest arrives: every number is the same."""
    import signal

    import httpx

    from services.common.broker import free_port

    from .test_kill import _start

    _, bootstrap = own_broker
    prefix = unique_prefix()
    cohort, events, steps = scenario(prefix)
    admin = {"Authorization": f"Bearer {admin_token}"}
    nurse = {"Authorization": f"Bearer {mint('nurse-1', 'nurse', (cohort,))}"}
    port, chdb_dir, half = free_port(), tmp_path / "chdb", len(steps) * 2 // 3
    url = f"http://127.0.0.1:{port}/v1/cohorts/{cohort}"
    with open(tmp_path / "metrics.log", "ab") as log, ingest_client(bootstrap, jwt_secret) as ingest:
        process = _start(bootstrap, jwt_secret, chdb_dir, port, log)
        try:
            run_steps(ingest, admin, steps[:half])
            deadline = time.monotonic() + 60
            while httpx.get(f"{url}/weekly", headers=nurse).status_code != 200:  # the sink is writing
                assert time.monotonic() < deadline
                time.sleep(0.1)
            process.send_signal(signal.SIGKILL)
            assert process.wait(10) == -signal.SIGKILL
            run_steps(ingest, admin, steps[half:])  # the rest arrives while it is down
            process = _start(bootstrap, jwt_secret, chdb_dir, port, log)

            def get(path: str, **params):
                response = httpx.get(f"{url}/{path}", params=params, headers=nurse)
                assert response.status_code == 200, response.text
                return response.json()

            deadline = time.monotonic() + 120
            while True:  # poll (with a deadline) until the restarted sink has caught up
                try:
                    check_numbers(get, prefix)
                    break
                except (AssertionError, KeyError, httpx.HTTPError):
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.3)
        finally:
            process.kill()
            process.wait(10)
