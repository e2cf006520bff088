"""Defect 4 and the two denominators (issue 13): only complete member-days count; today is listed
apart as `partial`; `enrolled` keeps a withdrawn member's days (as not logged in) up to the member's
last complete day; activity waits for a complete 28-day window. Real ingest API, broker and chDB."""

from __future__ import annotations

import time
import uuid

from .conftest import ingest_client, metrics_client, unique_prefix


def _event(member: str, at: str, kind: str = "login", payload: dict | None = None) -> dict:
    return {"event_id": str(uuid.uuid4()), "type": kind, "member_id": member, "occurred_at": at,
            "payload": payload or {}}


def _counts(rows: list[dict]) -> list[tuple]:
    return [(r["day"], r["member_days"], r["logged_in_days"], r["participated_days"], r["partial"]) for r in rows]


def test_only_complete_days_count_under_both_denominators(own_broker, jwt_secret, mint, admin_token, tmp_path):
    _, bootstrap = own_broker
    prefix = unique_prefix()
    cohort = f"cd-{prefix}"
    a, b, c = (f"{prefix}-{x}" for x in "abc")
    admin = {"Authorization": f"Bearer {admin_token}"}
    nurse = {"Authorization": f"Bearer {mint('nurse-1', 'nurse', (cohort,))}"}
    zones = {a: "Asia/Shanghai", b: "America/New_York", c: "Europe/Berlin"}
    events = [_event(a, f"2026-09-0{d}T09:00:00+08:00") for d in range(1, 6)]
    events += [_event(a, "2026-09-02T10:00:00+08:00", "checkin", {"task": "meal"})]
    events += [_event(b, "2026-09-01T09:00:00-04:00")]
    events += [_event(c, f"2026-09-0{d}T09:00:00+02:00") for d in (1, 2, 3)]  # 09-03: after the withdrawal
    with ingest_client(bootstrap, jwt_secret) as ingest, \
            metrics_client(bootstrap, jwt_secret, tmp_path / "chdb") as metrics:
        settings = {"ends_on": "2026-09-30"}
        assert ingest.put(f"/v1/cohorts/{cohort}/settings", json=settings, headers=admin).status_code == 202
        for member, zone in zones.items():
            body = {"member_id": member, "cohort": cohort, "timezone": zone, "enrolled_on": "2026-09-01"}
            assert ingest.post("/v1/enrollments", json=body, headers=admin).status_code == 202
        body = {"member_id": c, "cohort": cohort, "withdrawn_on": "2026-09-03"}
        assert ingest.post("/v1/withdrawals", json=body, headers=admin).status_code == 202
        assert ingest.post("/v1/events", json=events, headers=admin).status_code == 202
        # 00:30 in Shanghai on 09-05; 12:30 on 09-04 in New York; 18:30 on 09-04 in Berlin.
        tick = {"now": "2026-09-04T16:30:00+00:00"}
        assert ingest.post("/v1/admin/clock", json=tick, headers=admin).status_code == 202
        ch = metrics.app.state.ch
        deadline = time.monotonic() + 90
        while ch.query("SELECT (SELECT uniqExact(event_id) FROM events WHERE startsWith(member_id, {p:String})) AS e,"
                       "(SELECT uniqExact(event_id) FROM clock_ticks) AS t, (SELECT count() FROM withdrawals) AS w",
                       {"p": prefix})[0] != {"e": len(events), "t": 1, "w": 1}:
            assert time.monotonic() < deadline, "sink did not catch up"
            time.sleep(0.2)

        def get(path: str, **params):
            response = metrics.get(f"/v1/cohorts/{cohort}/{path}", params=params, headers=nurse)
            assert response.status_code == 200, response.text
            return response.json()

        followup = get("daily")
        assert {r["denominator"] for r in followup} == {"followup"}
        assert _counts(followup) == [
            ("2026-09-01", 3, 3, 0, False), ("2026-09-02", 3, 2, 1, False),
            ("2026-09-03", 2, 1, 0, False),   # c withdrawn
            ("2026-09-04", 1, 1, 0, True),    # b's 09-04 is under way in New York: not counted yet
            ("2026-09-05", 0, 0, 0, True)]    # today in Shanghai: listed, flagged, not counted
        assert followup[0]["login_rate"] == 100.0 and followup[-1]["login_rate"] == 0.0
        enrolled = get("daily", denominator="enrolled")
        assert _counts(enrolled) == [
            ("2026-09-01", 3, 3, 0, False), ("2026-09-02", 3, 2, 1, False),
            ("2026-09-03", 3, 1, 0, False),   # c's day counts, as not logged in (its event is after withdrawal)
            ("2026-09-04", 1, 1, 0, True), ("2026-09-05", 0, 0, 0, True)]

        weekly = get("weekly")
        assert [(w["week"], w["member_days"], w["logged_in_days"], w["partial"], w["denominator"]) for w in weekly] \
            == [(1, 9, 7, True, "followup")]
        weekly_enrolled = get("weekly", denominator="enrolled")
        assert [(w["member_days"], w["logged_in_days"], w["denominator"]) for w in weekly_enrolled] == [(10, 7, "enrolled")]

        summary = get("summary")
        by_denominator = {s["denominator"]: s for s in summary["stages"]}
        assert by_denominator["followup"]["mean_login_rate"] == 77.78  # 7/9, half up
        assert by_denominator["followup"]["pooled_login_rate"] == 77.78
        assert by_denominator["enrolled"]["mean_login_rate"] == 70.0
        assert by_denominator["enrolled"]["partial"] is True and summary["intervention_weeks"] == 4

        members = {m["member_id"]: m for m in get("members")}
        assert (members[a]["follow_up_days"], members[a]["activity"], members[a]["active"]) == (4, "pending", None)
        assert (members[b]["follow_up_days"], members[b]["activity"]) == (3, "pending")
        assert (members[c]["follow_up_days"], members[c]["activity"], members[c]["active"]) == (2, "insufficient", None)

        bad = metrics.get(f"/v1/cohorts/{cohort}/weekly", params={"denominator": "itt"}, headers=nurse)
        assert bad.status_code == 422 and "denominator" in bad.text
