"""SIGKILL the survey worker at a random tick while members walk through the whole questionnaire
schedule: afterwards every member has exactly the invitations, reminders and expiries the plan
says, no step is published twice and no notification is requested twice."""

from __future__ import annotations

import json
import random
from collections import Counter
from datetime import date, datetime, timedelta, timezone
from uuid import uuid4

import httpx

from loadtests.stack import running
from services.common.auth import mint_token
from testsupport.broker import read_topic

ENROLLED = date(2026, 8, 3)
ZONES = ("Asia/Shanghai", "America/New_York", "Europe/Berlin")


def test_survey_worker_killed_mid_schedule_repeats_and_loses_no_step(jwt_secret, tmp_path, fault_report):
    rng = random.Random(3)
    prefix = f"sv-{uuid4().hex[:6]}"
    members = {zone: f"{prefix}-{i}" for i, zone in enumerate(ZONES)}
    admin = {"Authorization": f"Bearer {mint_token(jwt_secret, 'ops', 'admin')}"}
    start = datetime.combine(ENROLLED, datetime.min.time(), timezone.utc) - timedelta(hours=14)
    ticks = [start + timedelta(hours=6 * i) for i in range(4 * 42)]  # six weeks, every six hours
    kill_at = rng.randrange(20, len(ticks) - 40)
    with running(jwt_secret, tmp_path, {"ingest": {}, "survey": {}}) as stack:
        ingest = httpx.Client(base_url=stack.urls["ingest"], headers=admin, timeout=30)
        for zone, member in members.items():
            body = {"member_id": member, "cohort": prefix, "timezone": zone, "enrolled_on": ENROLLED.isoformat()}
            assert ingest.post("/v1/enrollments", json=body).status_code == 202
        for i, now in enumerate(ticks):
            assert ingest.post("/v1/admin/clock", json={"now": now.isoformat()}).status_code == 202
            if i == kill_at:
                stack.processes["survey"].kill()  # SIGKILL: no commit, no shutdown hooks
                stack.processes["survey"].wait(10)
                stack.start("survey")
                stack.wait_ready()
        # Per member: 4 scheduled, 4 invited, 8 reminded, 4 expired. Wait for all of them: the worker
        # may still be working through the last ticks, which publish nothing for days before an expiry.
        steps = [
            json.loads(r.value)
            for r in read_topic(stack.bootstrap, "surveys", expect_at_least=3 * 20, timeout_s=60)
            if r.key.decode() in members.values()
        ]
        notes = [
            json.loads(r.value)
            for r in read_topic(stack.bootstrap, "notifications.outbound", expect_at_least=3 * 12, timeout_s=60)
            if r.key.decode() in members.values()
        ]
    duplicated_steps = [e for e, n in Counter(s["event_id"] for s in steps).items() if n > 1]
    duplicated_notes = [k for k, n in Counter(n["dedup_key"] for n in notes).items() if n > 1]
    assert duplicated_steps == [] and duplicated_notes == []
    for member in members.values():
        kinds = Counter(s["type"] for s in steps if s["member_id"] == member)
        # 3 QLQ-C30 + 1 experience survey, none answered: each invited, reminded twice, expired
        assert (kinds["survey.invited"], kinds["survey.reminded"], kinds["survey.expired"]) == (4, 8, 4), (
            member,
            kinds,
        )
    fault_report.add("survey SIGKILL", faults_injected=1, inputs_tried=len(ticks), duplicates_counted=0)
