"""Hostile input, access control and rate limits on the ingest API (real broker)."""

import json
import time
from uuid import uuid4

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from services.ingest.app import create_app
from services.ingest.settings import IngestSettings

from .conftest import RECENT, enrol, ingest_client


def login(member="m-1", **over):
    return {"event_id": str(uuid4()), "type": "login", "member_id": member,
            "occurred_at": RECENT} | over


HOSTILE_BODIES = [
    b"",
    b"null",
    b"42",
    b'"a string"',
    b"[" * 5000 + b"]" * 5000,  # deep nesting
    json.dumps([login()] * 10_000).encode(),  # huge array (under 1 MiB? no: refused either way)
    b'{"event_id": NaN}',
    b'[{"type": "login", "occurred_at": Infinity}]',
    json.dumps(login(member_id="m-1'; DROP TABLE events; --")).encode(),
    json.dumps(login(event_id="' OR 1=1 --")).encode(),
    json.dumps(login(occurred_at="9999-12-31T23:59:59+00:00")).encode(),
    json.dumps(login(occurred_at="1970-01-01T00:00:00+00:00")).encode(),
    json.dumps(login(member_id="m-\u202e1")).encode(),  # right-to-left override
    json.dumps(login(member_id="m-\ud83d\ude00")).encode(),
    "\ufeff{}".encode(),
    b"\xff\xfe\x00garbage",
    json.dumps({"type": "post", "member_id": "m-1", "event_id": str(uuid4()),
                "occurred_at": RECENT,
                "payload": {"channel": "community", "topic": "x" * 10_000}}).encode(),
]


@pytest.mark.parametrize("body", HOSTILE_BODIES, ids=range(len(HOSTILE_BODIES)))
def test_hostile_bodies_get_a_clear_4xx_and_the_service_keeps_serving(client, mint, body):
    response = client.post("/v1/events", content=body, headers={
        "Authorization": f"Bearer {mint('m-1')}", "content-type": "application/json"})
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:200])
    assert "Traceback" not in response.text
    assert response.json()["detail"]
    assert client.get("/healthz").status_code == 200


def test_member_rate_limit_answers_429_with_retry_after(broker, jwt_secret, mint):
    with ingest_client(broker, jwt_secret, member_rate_limit="5/minute") as client:
        enrol(client, mint("ops", "admin"), "m-rl", "m-other")
        member = {"Authorization": f"Bearer {mint('m-rl')}"}
        codes = [client.post("/v1/events", json=login("m-rl"), headers=member).status_code for _ in range(7)]
        assert codes == [202] * 5 + [429] * 2
        limited = client.post("/v1/events", json=login("m-rl"), headers=member)
        assert 1 <= int(limited.headers["retry-after"]) <= 60
        other = {"Authorization": f"Bearer {mint('m-other')}"}
        assert client.post("/v1/events", json=login("m-other"), headers=other).status_code == 202
        admin = {"Authorization": f"Bearer {mint('ops', 'admin')}"}
        assert all(client.post("/v1/events", json=login("m-rl"), headers=admin).status_code == 202 for _ in range(7))


# The access-control matrix of every service, ingest included, is in tests/faults/test_access_and_input.py.


def test_schemathesis_finds_no_server_error(own_broker, jwt_secret, mint):
    """Every operation of the OpenAPI document, fuzzed from its schema, with an admin token (on a
    broker of its own: fuzzed clock ticks and enrolments must not reach other tests' directories)."""
    from fastapi.testclient import TestClient

    _, broker = own_broker
    app = create_app(IngestSettings(kafka_bootstrap=broker, jwt_secret=jwt_secret))
    token = {"Authorization": f"Bearer {mint('ops', 'admin')}"}
    with TestClient(app) as client:  # runs the lifespan: the publisher is connected to the real broker
        while client.get("/readyz").status_code != 200:  # the member directory has read the log
            time.sleep(0.05)
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        operations = [result.ok() for result in schema.get_all_operations()]
        assert {op.path for op in operations} >= {"/v1/events", "/v1/enrollments", "/v1/admin/clock"}
        calls = {}
        for operation in operations:

            @given(case=operation.as_strategy())
            @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None)
            def fuzz(case):
                response = case.call(headers=token)
                calls[operation.label] = calls.get(operation.label, 0) + 1
                assert response.status_code < 500, (case.method, case.path, response.status_code, response.text[:300])

            fuzz()
        assert len(calls) == len(operations) and calls["POST /v1/events"] >= 20, calls
