from __future__ import annotations

import time
import uuid

import pytest
from fastapi.testclient import TestClient

from services.ingest.app import create_app as create_ingest
from services.ingest.settings import IngestSettings
from services.metrics.app import create_app
from services.metrics.settings import MetricsSettings
from testsupport.cohort import GeneratedCohort


def metrics_settings(bootstrap: str, jwt_secret: str, chdb_dir, **overrides) -> MetricsSettings:
    return MetricsSettings(kafka_bootstrap=bootstrap, jwt_secret=jwt_secret, clickhouse_url=f"chdb://{chdb_dir}",
                           sink_poll_ms=50, **overrides)


def metrics_client(bootstrap: str, jwt_secret: str, chdb_dir, **overrides) -> TestClient:
    return TestClient(create_app(metrics_settings(bootstrap, jwt_secret, chdb_dir, **overrides)),
                      raise_server_exceptions=False)


def ingest_client(bootstrap: str, jwt_secret: str) -> TestClient:
    # Tests replay whole cohorts (months of events, then one tick) on a broker whose clock other tests
    # have moved: ingest's refusal of events older than 30 days before the latest tick is widened here.
    settings = IngestSettings(kafka_bootstrap=bootstrap, jwt_secret=jwt_secret, max_event_age_days=3650)
    return TestClient(create_ingest(settings), raise_server_exceptions=False)


def unique_prefix() -> str:
    return "t" + uuid.uuid4().hex[:8]


def send_cohort(ingest: TestClient, admin_token: str, g: GeneratedCohort, batch: int = 500,
                start: int = 0, stop: int | None = None, setup: bool = True, tick: bool = True) -> None:
    """Drive a generated cohort through the real ingest API (settings, enrolments, events, tick)."""
    headers = {"Authorization": f"Bearer {admin_token}"}
    if setup:
        assert ingest.put(f"/v1/cohorts/{g.cohort}/settings", json=g.settings, headers=headers).status_code == 202
        for body in g.enrolments:
            assert ingest.post("/v1/enrollments", json=body, headers=headers).status_code == 202
        for body in g.withdrawals:
            assert ingest.post("/v1/withdrawals", json=body, headers=headers).status_code == 202
    deliveries = g.deliveries[start:stop]
    for i in range(0, len(deliveries), batch):
        response = ingest.post("/v1/events", json=deliveries[i:i + batch], headers=headers)
        assert response.status_code == 202, response.text
    if tick:
        r = ingest.post("/v1/admin/clock", json={"now": g.now.isoformat()}, headers=headers)
        assert r.status_code == 202, r.text


def sunk_counts(query, prefix: str, cohort: str) -> dict:
    rows = query(f"""SELECT
        (SELECT uniqExact(event_id) FROM events WHERE startsWith(member_id, '{prefix}-')) AS events,
        (SELECT uniqExact(member_id) FROM enrolments WHERE cohort = '{cohort}') AS enrolments,
        (SELECT uniqExact(member_id) FROM withdrawals WHERE cohort = '{cohort}') AS withdrawals,
        (SELECT count() FROM cohorts WHERE cohort = '{cohort}') AS cohorts,
        (SELECT count() FROM clock_ticks) AS ticks,
        (SELECT toUnixTimestamp64Milli(max(now)) FROM clock_ticks) AS latest_tick_ms""")
    return rows[0]


def wait_until_sunk(ch, g: GeneratedCohort, prefix: str, timeout_s: float = 90.0) -> dict:
    """Poll (with a deadline) until ClickHouse holds every generated record."""
    deadline = time.monotonic() + timeout_s
    want = {"events": g.unique_events, "enrolments": len(g.enrolments), "withdrawals": len(g.withdrawals),
            "cohorts": 1}
    while True:
        got = sunk_counts(ch.query, prefix, g.cohort)
        # other tests share the broker's clock.ticks: wait for THIS cohort's tick (or a later one)
        if all(got[k] == v for k, v in want.items()) and got["latest_tick_ms"] >= g.now.timestamp() * 1000:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"sink did not catch up: {got} != {want}")
        time.sleep(0.2)


@pytest.fixture
def admin_token(mint):
    return mint("ops", "admin")
