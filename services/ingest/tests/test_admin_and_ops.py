"""Admin API, probes, metrics and the token CLI against the real broker."""

import json
import subprocess
import sys
from uuid import uuid4

from contracts.members import MemberEnrolled
from contracts.topics import CLOCK_TICKS
from testsupport.broker import read_topic

from .conftest import RECENT, enrol


def admin(mint):
    return {"Authorization": f"Bearer {mint('ops', 'admin')}"}


def test_enrolment_and_withdrawal_land_on_members_keyed_by_member(client, broker, mint):
    member = f"m-{uuid4().hex[:8]}"
    enrolled = client.post("/v1/enrollments", headers=admin(mint), json={
        "member_id": member, "cohort": "c-1", "timezone": "Asia/Shanghai", "enrolled_on": "2026-11-02"})
    assert enrolled.status_code == 202, enrolled.text
    withdrawn = client.post("/v1/withdrawals", headers=admin(mint), json={
        "member_id": member, "cohort": "c-1", "withdrawn_on": "2026-11-20", "reason": "clinical"})
    assert withdrawn.status_code == 202
    mine = [r for r in read_topic(broker, "members", expect_at_least=2) if r.key == member.encode()]
    bodies = [json.loads(r.value) for r in mine]
    assert [b["type"] for b in bodies] == ["member.enrolled", "member.withdrawn"]
    assert MemberEnrolled.model_validate(bodies[0]).timezone == "Asia/Shanghai"


def test_admin_endpoints_refuse_members_and_bad_bodies(client, mint):
    member = {"Authorization": f"Bearer {mint('m-1')}"}
    body = {"member_id": "m-1", "cohort": "c-1", "timezone": "Asia/Shanghai", "enrolled_on": "2026-11-02"}
    assert client.post("/v1/enrollments", headers=member, json=body).status_code == 403
    bad = client.post("/v1/enrollments", headers=admin(mint), json=body | {"timezone": "Mars/Base"})
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["body", "timezone"]
    assert "unknown IANA time zone" in bad.json()["detail"][0]["msg"]


def test_clock_tick_reaches_every_partition(client, broker, mint):
    response = client.post("/v1/admin/clock", headers=admin(mint), json={"now": "2026-12-01T08:00:00+00:00"})
    assert response.status_code == 202
    tick_id = response.json()["event_id"]
    ticks = [r for r in read_topic(broker, CLOCK_TICKS.name, expect_at_least=CLOCK_TICKS.partitions)
             if json.loads(r.value)["event_id"] == tick_id]
    assert sorted(r.partition for r in ticks) == list(range(CLOCK_TICKS.partitions))


def test_a_clock_beyond_2100_is_refused_and_not_published(client, broker, mint):
    response = client.post("/v1/admin/clock", headers=admin(mint), json={"now": "2150-01-01T00:00:00+00:00"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][-1] == "now"
    assert "2100-01-01" in response.json()["detail"][0]["msg"]
    assert not [r for r in read_topic(broker, CLOCK_TICKS.name) if json.loads(r.value)["now"].startswith("2150")]


def test_cohort_settings_are_published(client, broker, mint):
    cohort = f"c-{uuid4().hex[:6]}"
    response = client.put(f"/v1/cohorts/{cohort}/settings", headers=admin(mint),
                          json={"nurses": ["n-1", "n-2"], "lead_nurse": "n-1", "ends_on": "2027-03-01"})
    assert response.status_code == 202, response.text
    records = [r for r in read_topic(broker, "members", expect_at_least=1) if r.key == f"cohort:{cohort}".encode()]
    assert json.loads(records[0].value)["settings"]["tasks"] == ["meal", "exercise", "meditation"]


def test_probes_metrics_and_docs(client, mint):
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").status_code == 200
    event = {"event_id": str(uuid4()), "type": "login", "member_id": "m-1",
             "occurred_at": RECENT}
    enrol(client, mint("ops", "admin"), "m-1")
    assert client.post("/v1/events", json=event, headers={"Authorization": f"Bearer {mint('m-1')}"}).status_code == 202
    metrics = client.get("/metrics").text
    assert 'ingest_events_accepted_total{type="login"}' in metrics
    assert "ingest_produce_seconds_bucket" in metrics and "http_requests_in_flight" in metrics
    assert 'http_requests_total{service="ingest",status="202"}' in metrics
    spec = client.get("/openapi.json").json()
    assert "/v1/events" in spec["paths"] and "Checkin" in spec["components"]["schemas"]


def test_token_cli_mints_a_verifiable_token(jwt_secret):
    out = subprocess.run([sys.executable, "-m", "services.ingest.tokens", "--nurse", "n-7", "--cohort", "c-1"],
                         capture_output=True, text=True, check=True, env={"JWT_SECRET": jwt_secret})
    from services.common.auth import decode_token

    principal = decode_token(out.stdout.strip(), jwt_secret)
    assert (principal.subject, principal.role, principal.cohorts) == ("n-7", "nurse", frozenset({"c-1"}))
