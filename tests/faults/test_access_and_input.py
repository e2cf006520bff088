"""Access-control matrix and hostile input across every service's API (real broker, real chDB).

The policy below is the platform's access rule book; a route missing from it fails the test, so a
new endpoint cannot ship without saying who may call it."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone

import jwt as pyjwt
import pytest

from services.common.broker import start_broker
from services.common.kafka import ensure_topics

from .services import all_services

PUBLIC = {"/healthz", "/readyz", "/metrics", "/", "/docs", "/openapi.json", "/redoc", "/docs/oauth2-redirect"}
STAFF_A = {"nurse_a", "admin"}  # cohort-scoped staff routes, probed for cohort "c-a"
ANY_STAFF = {"nurse_a", "nurse_b", "admin"}  # staff routes on one object (the service checks its cohort)
POLICY: dict[str, dict[tuple[str, str], set[str]]] = {
    "ingest": {
        ("POST", "/v1/events"): {"member", "admin"},
        ("POST", "/v1/enrollments"): {"admin"},
        ("POST", "/v1/withdrawals"): {"admin"},
        ("PUT", "/v1/cohorts/{cohort}/settings"): {"admin"},
        ("PUT", "/v1/members/{member_id}/timezone"): {"admin"},
        ("DELETE", "/v1/members/{member_id}"): {"admin"},  # erasure (docs/erasure.md)
        ("POST", "/v1/admin/clock"): {"admin"},
    },
    # researchers: cohort aggregates only (no member list, no call queue, no free text)
    "metrics": {
        ("GET", f"/v1/cohorts/{{cohort}}/{view}"): STAFF_A | ({"researcher"} if view != "members" else set())
        for view in ("weekly", "summary", "daily", "members", "daytypes", "qol", "overview")
    }
    | {("GET", "/v1/audit"): {"admin"},
       ("GET", "/v1/cohorts/overview"): ANY_STAFF | {"researcher"},  # each token lists only its own cohorts
       ("GET", "/v1/cohorts/{cohort}/export"): {"researcher", "admin"}},  # research export (docs/export.md)
    "notifier": {
        ("GET", "/v1/alerts"): ANY_STAFF,
        ("GET", "/v1/alerts/{alert_id}"): ANY_STAFF,
        ("POST", "/v1/alerts/{alert_id}/ack"): ANY_STAFF,
        ("POST", "/v1/alerts/{alert_id}/calls"): ANY_STAFF,
        ("POST", "/v1/alerts/{alert_id}/resolve"): ANY_STAFF,
        ("GET", "/v1/members/{member_id}/engagement"): ANY_STAFF,
        ("GET", "/v1/members/{member_id}/panel"): ANY_STAFF,  # before a call: the member's last days (audited)
        ("GET", "/v1/members/me/today"): {"member"},  # the token's own day; no id to name another member
        ("GET", "/v1/notifier/status"): {"admin"},
    },
    "survey": {
        ("GET", "/v1/surveys/pending"): {"member"},
        ("POST", "/v1/surveys/{invitation_id}/responses"): {"member"},
        # Free-text answers: only staff whose token names the cohort — an admin token without it too is refused.
        ("GET", "/v1/cohorts/{cohort}/experience"): {"nurse_a"},
        ("GET", "/v1/cohorts/{cohort}/experience.csv"): {"nurse_a"},
    },
}


def callers(mint) -> dict[str, str | None]:
    past = datetime.now(timezone.utc) - timedelta(days=1)
    forever = 4102444800
    return {
        "member": mint("m-a"),
        "nurse_a": mint("n-a", "nurse", ("c-a",)),
        "nurse_b": mint("n-b", "nurse", ("c-b",)),
        "researcher": mint("r-a", "researcher", ("c-a",)),
        "admin": mint("ops", "admin"),
        "no_token": None,
        "expired": mint("ops", "admin", now=past, ttl=timedelta(hours=1)),
        "other_key": pyjwt.encode({"sub": "ops", "role": "admin", "exp": forever}, "k" * 40, "HS256"),
        "alg_none": pyjwt.encode({"sub": "ops", "role": "admin", "exp": forever}, None, "none"),
    }


def concrete(path: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: "c-a" if m.group(1) == "cohort" else "x-1", path)


@pytest.fixture(scope="module")
def services(tmp_path_factory):
    """On a broker of this module alone: the fuzzers write clock ticks anywhere in 2000-2100 and
    enrolments, which would move the clock (and ingest's event-age window) of every later test."""
    from conftest import TEST_JWT_SECRET

    process, bootstrap = start_broker()
    try:
        ensure_topics(bootstrap)
        with all_services(bootstrap, TEST_JWT_SECRET, tmp_path_factory.mktemp("services")) as clients:
            yield clients
    finally:
        process.terminate()
        process.wait(10)


def routes(client) -> set[tuple[str, str]]:
    spec = client.get("/openapi.json").json()
    return {(method.upper(), path) for path, item in spec["paths"].items() for method in item
            if method in {"get", "post", "put", "patch", "delete"} and path not in PUBLIC}


def test_every_route_has_an_access_rule(services):
    for name, client in services.items():
        assert routes(client) == set(POLICY[name]), name


def test_access_matrix(services, mint, fault_report):
    tokens, wrong, tried, refused = callers(mint), [], 0, 0
    for name, client in services.items():
        for (method, path), allowed in POLICY[name].items():
            for caller, token in tokens.items():
                headers = {"Authorization": f"Bearer {token}"} if token else {}
                code = client.request(method, concrete(path), headers=headers, json={}).status_code
                tried += 1
                if caller in allowed:
                    ok = code not in (401, 403) and code < 500
                elif caller in {"member", "nurse_a", "nurse_b", "researcher", "admin"}:
                    ok = code == 403
                else:
                    ok = code == 401
                refused += ok and caller not in allowed
                if not ok:
                    wrong.append((name, method, path, caller, code))
    fault_report.add("access matrix", inputs_tried=tried, requests_refused_correctly=refused)
    assert wrong == []


HOSTILE = [
    b"{not json", b"null", b"[]", b"[" * 3000 + b"]" * 3000, b'{"a": NaN}', b'{"a": Infinity}',
    json.dumps({"x": "'; DROP TABLE events; --"}).encode(), json.dumps({"x": "\u202e\ufeff\ud83d\ude00"}).encode(),
    json.dumps({"occurred_at": "9999-12-31T23:59:59+00:00", "now": "1970-01-01T00:00:00Z"}).encode(),
    json.dumps([{"k": "v" * 100_000}]).encode(), b"\xff\xfe\x00",
]


def test_hostile_bodies_on_every_write_route(services, mint, fault_report):
    admin, member = mint("ops", "admin"), mint("m-a")
    tried, bad = 0, []
    for name, client in services.items():
        for (method, path), allowed in POLICY[name].items():
            if method == "GET":
                continue
            token = member if "member" in allowed else admin
            for body in HOSTILE:
                response = client.request(method, concrete(path), content=body, headers={
                    "Authorization": f"Bearer {token}", "content-type": "application/json"})
                tried += 1
                if not (400 <= response.status_code < 500) or "Traceback" in response.text:
                    bad.append((name, path, body[:30], response.status_code))
            assert client.get("/healthz").status_code == 200
    fault_report.add("hostile input", inputs_tried=tried, requests_refused_correctly=tried - len(bad))
    assert bad == []


def test_sql_looking_and_unicode_query_parameters(services, mint):
    staff = {"Authorization": f"Bearer {mint('ops', 'admin')}"}
    for value in ("' OR 1=1 --", "2026-01-01'; DROP TABLE raw_events; --", "%00", "ｃ-a", "9" * 400):
        for path in ("/v1/cohorts/c-a/daily?from={v}&to={v}", "/v1/alerts?status={v}"):
            service = "metrics" if "daily" in path else "notifier"
            response = services[service].get(path.format(v=value), headers=staff)
            assert 400 <= response.status_code < 500 and "Traceback" not in response.text, (path, value)


def test_schemathesis_finds_no_server_error_in_any_service(services, mint, fault_report):
    """Every operation of every service's OpenAPI, fuzzed from its schema, with a token allowed to call it."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings

    tokens = {"member": mint("m-a"), "nurse_a": mint("n-a", "nurse", ("c-a",)), "admin": mint("ops", "admin")}
    calls = 0
    for name, client in services.items():
        schema = schemathesis.openapi.from_asgi("/openapi.json", client.app)
        for result in schema.get_all_operations():
            operation = result.ok()
            if operation.path == "/readyz":  # 503 is its legitimate answer while a dependency is down
                continue
            allowed = POLICY[name].get((operation.method.upper(), operation.path), {"admin"})
            caller = next(c for c in ("admin", "nurse_a", "member") if c in allowed)
            headers = {"Authorization": f"Bearer {tokens[caller]}"}

            @given(case=operation.as_strategy())
            @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), database=None)
            def fuzz(case):
                nonlocal calls
                response = case.call(headers=headers)
                calls += 1
                assert response.status_code < 500, (name, case.method, case.path, response.status_code,
                                                    response.text[:300])

            fuzz()
    fault_report.add("schemathesis (all services)", inputs_tried=calls)
    assert calls > 100
