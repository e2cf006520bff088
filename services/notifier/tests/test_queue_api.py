"""Alerts and the call queue on the real broker: the runtime is driven tick by tick (as the faust
agent does), state comes from the topics, every step lands on `alerts`, and a second instance
rebuilds the same queue from the log."""

import json
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from testsupport.broker import read_topic
from testsupport.polling import wait_until

from .conftest import notifier_client, notifier_settings, partition_of, unique

ENROLLED = date(2026, 9, 1)
SH, NY = "Asia/Shanghai", "America/New_York"


def local(zone: str, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime.combine(ENROLLED + timedelta(days=day - 1), time(hour, minute), tzinfo=ZoneInfo(zone))


def test_alert_lifecycle_and_call_queue_api(broker, world, jwt_secret, mint, tmp_path):
    cohort, other = unique("c"), unique("c")
    world.configure(cohort, nurses=["n-a", "n-b"], lead_nurse="n-a", reminder_times=["23:30"])
    sh, ny, fine, gone = unique("m-sh"), unique("m-ny"), unique("m-ok"), unique("m-wd")
    for m, zone in ((sh, SH), (ny, NY), (fine, SH), (gone, SH)):
        world.enrol(m, cohort, zone, ENROLLED)
    for day in range(1, 6):
        world.event(fine, local(SH, day, 9))
    world.event(sh, local(SH, 1, 9))
    world.event(ny, local(NY, 1, 9))
    world.withdraw(gone, cohort, ENROLLED + timedelta(days=1))
    settings = notifier_settings(broker, jwt_secret, str(tmp_path))
    nurse_a = {"Authorization": f"Bearer {mint('n-a', 'nurse', (cohort,))}"}
    nurse_b = {"Authorization": f"Bearer {mint('n-b', 'nurse', (cohort,))}"}
    stranger = {"Authorization": f"Bearer {mint('n-x', 'nurse', (other,))}"}
    admin = {"Authorization": f"Bearer {mint('ops', 'admin')}"}

    with notifier_client(settings) as client:
        runtime = client.app.state.runtime
        client.portal.call(runtime.rebuilt.wait)
        wait_until(
            lambda: (
                cohort in runtime.state.cohorts
                and runtime.state.members.get(gone, None)
                and runtime.state.members[gone].follow_up.withdrawn_on
                and len(runtime.state.days.get(fine, {})) == 5
            ),
            what="state",
        )

        def tick(now: datetime) -> None:
            value = json.dumps({"type": "clock.tick", "event_id": "00000000-0000-4000-8000-000000000000",
                                "now": now.isoformat()}).encode()
            for p in range(6):
                client.portal.call(runtime.on_tick_record, p, value)

        def queue(headers=nurse_a, **params):
            response = client.get("/v1/alerts", headers=headers, params=params)
            assert response.status_code == 200, response.text
            return {a["member_id"]: a for a in response.json()}

        tick(local(SH, 3, 23, 59))  # Shanghai's day 2 over, day 3 not: nobody has missed two days
        assert queue() == {}
        tick(local(SH, 4, 0, 0))  # Shanghai days 2+3 missed; New York is still on its day 3
        assert set(queue()) == {sh}
        assert queue()[sh]["assigned_to"] == "n-a" and queue()[sh]["since"] == "2026-09-02"
        tick(local(NY, 4, 0, 0))
        alerts = queue()
        assert set(alerts) == {sh, ny} and alerts[ny]["assigned_to"] == "n-b"  # evenly assigned
        assert alerts[sh]["member"]["last_activity"].startswith("2026-09-01T09:00")
        assert [d["logged_in"] for d in alerts[sh]["member"]["recent_days"]][:4] == [True, False, False, False]

        # scoping and errors
        assert client.get("/v1/alerts", headers=stranger).json() == []
        sh_id, ny_id = alerts[sh]["alert_id"], alerts[ny]["alert_id"]
        assert (
            client.post(f"/v1/alerts/{sh_id}/ack", headers=stranger).status_code == 404
        )  # same as an unknown id (docs/security.md)
        assert client.post("/v1/alerts/00000000-0000-4000-8000-000000000001/ack", headers=nurse_a).status_code == 404
        assert client.post("/v1/alerts/not-a-uuid/ack", headers=nurse_a).status_code == 422
        bad = client.post(f"/v1/alerts/{sh_id}/calls", headers=nurse_a, json={"outcome": "maybe"})
        assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "outcome"]
        assert client.get("/v1/alerts", headers={"Authorization": f"Bearer {mint(sh)}"}).status_code == 403

        # New York's nurse acknowledges and logs a call; Shanghai's alert is left alone → escalation
        acked = client.post(f"/v1/alerts/{ny_id}/ack", headers=nurse_b)
        assert acked.status_code == 200 and acked.json()["status"] == "acknowledged"
        assert client.post(f"/v1/alerts/{ny_id}/ack", headers=nurse_a).status_code == 409
        call = client.post(
            f"/v1/alerts/{ny_id}/calls", headers=nurse_b, json={"outcome": "no_answer", "note": "try 6pm"}
        )
        assert call.status_code == 201 and call.json()["calls"][0]["outcome"] == "no_answer"
        tick(local(SH, 4, 23, 59))
        assert not queue()[sh]["escalated"]
        tick(local(SH, 5, 0, 0))  # 24 h after the raise, still unacknowledged
        assert queue()[sh]["escalated"] and queue()[sh]["lead_nurse"] == "n-a"
        assert not queue()[ny]["escalated"]
        assert set(queue(escalated="true")) == {sh} and set(queue(escalated="false")) == {ny}
        assert set(queue(kind="inactivity")) == {sh, ny} and queue(kind="symptom") == {}
        assert client.get("/v1/alerts", headers=nurse_a, params={"kind": "mood"}).status_code == 422
        tick(local(SH, 6, 0, 0))  # escalated once only

        # Shanghai logs in again → auto-resolved; New York resolved by hand; conflicts are 409
        world.event(sh, local(SH, 6, 8))
        wait_until(lambda: runtime.state.last_activity.get(sh) == local(SH, 6, 8), what="login folded")
        tick(local(SH, 6, 8, 5))
        assert queue(status="resolved")[sh]["resolved_reason"] == "active_again"
        resolved = client.post(f"/v1/alerts/{ny_id}/resolve", headers=nurse_b)
        assert resolved.status_code == 200 and resolved.json()["resolved_by"] == "n-b"
        assert client.post(f"/v1/alerts/{ny_id}/ack", headers=nurse_b).status_code == 409
        assert client.post(f"/v1/alerts/{ny_id}/calls", headers=nurse_b, json={"outcome": "reached"}).status_code == 409
        tick(local(NY, 7, 1, 0))  # New York is still away, but this episode was closed by a nurse: no new alert
        assert queue(status="open") == {} and queue(status="unresolved") == {}
        assert len(queue(headers=admin, cohort=cohort)) == 2 and len(queue(headers=admin, cohort=cohort, limit=1)) == 1
        assert client.get("/v1/alerts", headers=nurse_a, params={"status": "closed"}).status_code == 422
        assert client.get("/v1/alerts", headers=nurse_a, params={"cohort": other}).status_code == 403
        final = {a: v for a, v in queue().items()}
        metrics = client.get("/metrics").text
        assert f'notifier_alerts_open{{cohort="{cohort}"}} 0.0' in metrics
        assert "notifier_time_to_acknowledge_seconds_count" in metrics

    records = [json.loads(r.value) for r in read_topic(broker, "alerts", expect_at_least=6)
               if r.key.decode() in (sh, ny, fine, gone)]
    assert [(r["type"], r["member_id"]) for r in records if r["member_id"] == sh] == [
        ("alert.raised", sh), ("alert.escalated", sh), ("alert.resolved", sh)]
    assert [r["type"] for r in records if r["member_id"] == ny] == [
        "alert.raised", "alert.acknowledged", "call.logged", "alert.resolved"]
    notes = [json.loads(r.value) for r in read_topic(broker, "notifications.outbound", expect_at_least=4)]
    alert_notes = sorted((n["kind"], n["recipient"]) for n in notes if n.get("data", {}).get("member_id") in (sh, ny)
                         and n["type"] == "notification.requested")
    assert alert_notes == [("alert_escalated", "n-a"), ("alert_raised", "n-a"), ("alert_raised", "n-b")]

    # a new instance rebuilds the identical queue from the log alone
    with notifier_client(notifier_settings(broker, jwt_secret, str(tmp_path))) as again:
        again.portal.call(again.app.state.runtime.rebuilt.wait)
        rebuilt = {a["member_id"]: a for a in again.get("/v1/alerts", headers=nurse_a).json()}
        assert {m: (a["status"], a["escalated"], len(a["calls"]), a["resolved_reason"]) for m, a in rebuilt.items()} \
            == {m: (a["status"], a["escalated"], len(a["calls"]), a["resolved_reason"]) for m, a in final.items()}
    assert partition_of(sh) in range(6)
