"""Audit trail (docs/security.md, "Audit trail"): every staff read of member-level data — call queue,
one alert, a member's engagement, the member list, survey answers and their export — is on the `audit`
topic (who, what, when; never the data) and admins find it with GET /v1/audit on metrics (via its
ClickHouse sink). Real broker, real chDB."""

from __future__ import annotations

import json
import time
from uuid import uuid4

from contracts.audit import StaffAccess
from services.common.broker import free_port
from testsupport.broker import read_topic

from .services import all_services

COHORT = "c-audit"


def test_every_staff_read_of_member_data_is_audited_and_queryable_by_admins(broker, jwt_secret, mint, tmp_path,
                                                                             fault_report):
    nurse_id = f"n-audit-{uuid4().hex[:6]}"
    nurse = {"Authorization": f"Bearer {mint(nurse_id, 'nurse', (COHORT,))}"}
    admin = {"Authorization": f"Bearer {mint('ops-audit', 'admin')}"}
    member = f"m-audit-{uuid4().hex[:6]}"
    with all_services(broker, jwt_secret, tmp_path, sink=True) as svc:
        assert svc["ingest"].put(f"/v1/cohorts/{COHORT}/settings", headers=admin, json={}).status_code == 202
        enrolled = svc["ingest"].post("/v1/enrollments", headers=admin, json={
            "member_id": member, "cohort": COHORT, "timezone": "UTC", "enrolled_on": "2026-09-01"})
        assert enrolled.status_code == 202, enrolled.text
        runtime = svc["notifier"].app.state.runtime
        deadline = time.monotonic() + 60
        while member not in runtime.state.members or svc["metrics"].get(
                f"/v1/cohorts/{COHORT}/members", headers=admin).status_code != 200:
            assert time.monotonic() < deadline, "enrolment never reached notifier and metrics"
            time.sleep(0.2)

        reads = {
            "call_queue": svc["notifier"].get("/v1/alerts", headers=nurse),
            "member_engagement": svc["notifier"].get(f"/v1/members/{member}/engagement", headers=nurse),
            "member_list": svc["metrics"].get(f"/v1/cohorts/{COHORT}/members", headers=nurse),
            "survey_answers": svc["survey"].get(f"/v1/cohorts/{COHORT}/experience", headers=nurse),
            "survey_export": svc["survey"].get(f"/v1/cohorts/{COHORT}/experience.csv", headers=nurse),
        }
        assert {k: r.status_code for k, r in reads.items()} == dict.fromkeys(reads, 200)
        # aggregates are not member-level: not audited
        assert svc["metrics"].get(f"/v1/cohorts/{COHORT}/weekly", headers=nurse).status_code == 200
        assert svc["metrics"].get("/v1/audit", headers=nurse).status_code == 403  # admins only

        deadline = time.monotonic() + 60
        while True:
            found = svc["metrics"].get("/v1/audit", headers=admin, params={"actor": nurse_id})
            assert found.status_code == 200, found.text
            if {e["resource"] for e in found.json()} >= set(reads):
                break
            assert time.monotonic() < deadline, found.json()
            time.sleep(0.3)
        entries = {e["resource"]: e for e in found.json()}
        assert set(entries) == set(reads), "one record per read, nothing else for this nurse"
        assert all(e["actor"] == nurse_id and e["role"] == "nurse" for e in entries.values())
        assert entries["call_queue"]["cohort"] is None  # the queue of all the nurse's cohorts
        assert all(e["cohort"] == COHORT for r, e in entries.items() if r != "call_queue")
        assert entries["member_engagement"]["target"] == member
        assert entries["member_list"]["returned"] == 1 and entries["call_queue"]["service"] == "notifier"
        by_member = svc["metrics"].get("/v1/audit", headers=admin, params={"target": member}).json()
        assert [e["resource"] for e in by_member] == ["member_engagement"]
        assert svc["metrics"].get("/v1/audit", headers=admin, params={"from": "2026-01-01"}).status_code == 422
        trails = [svc[name].app.state.audit_trail for name in ("notifier", "metrics", "survey")]
        assert all(trail.open for trail in trails)
    assert not any(trail.open for trail in trails), "a stopped service closes its audit producer"

    # the log holds who/what/when, never the data read (the member list's rates, the engagement days)
    records = [r for r in read_topic(broker, "audit", expect_at_least=len(reads))
               if json.loads(r.value).get("actor") == nurse_id]
    assert len(records) == len(reads)
    for record in records:
        StaffAccess.model_validate_json(record.value)  # the contract, nothing more (extra fields are refused)
        assert b"login_rate" not in record.value and b"recent_days" not in record.value
    fault_report.add("audit", inputs_tried=len(reads) + 3, requests_refused_correctly=1)


def test_a_read_that_cannot_be_recorded_is_not_answered(broker, jwt_secret, mint, tmp_path, fault_report):
    """Fail closed: no audit record, no data (503)."""
    from fastapi.testclient import TestClient

    from services.survey.app import create_app
    from services.survey.settings import SurveySettings

    app = create_app(SurveySettings(kafka_bootstrap=broker, jwt_secret=jwt_secret,
                                    faust_datadir=str(tmp_path / "faust")), run_stream=False)
    nurse = {"Authorization": f"Bearer {mint('n-closed', 'nurse', (COHORT,))}"}
    with TestClient(app, raise_server_exceptions=False) as client:
        deadline = time.monotonic() + 60
        while client.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        from services.common.audit import AuditTrail

        app.state.audit_trail = AuditTrail(f"127.0.0.1:{free_port()}", "survey")  # nothing listens there
        response = client.get(f"/v1/cohorts/{COHORT}/experience", headers=nurse)
        assert response.status_code == 503 and response.json() == {"detail": "audit trail unavailable; retry later"}
    fault_report.add("audit", faults_injected=1, requests_refused_correctly=1)
