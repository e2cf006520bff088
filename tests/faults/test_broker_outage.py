"""The broker goes away under every service and comes back: each process survives, reports not-ready
while it is gone and ready again after, and ingest accepts events again by itself.

tansu keeps memory only, so the returning broker is empty: processing of the old log after a real
broker restart (Kafka keeps its log) cannot be shown here; ingest's 503 → 202 path and the metrics
sink's ClickHouse outage are tested with data elsewhere.

The stack stops while the broker is gone again: every service must still end on SIGTERM by itself (a
hung stop would be SIGKILLed by the stack, as Kubernetes does after the grace period; docs/testing.md,
"Time budget", says what used to hang)."""

from __future__ import annotations

import os
import signal
import time
from uuid import uuid4

import httpx

from loadtests.stack import running
from services.common.auth import mint_token
from services.common.broker import start_broker


def readiness(stack) -> dict[str, int | str]:
    codes = {}
    for name, url in stack.urls.items():
        if stack.processes[name].poll() is not None:
            codes[name] = "exited"
            continue
        try:
            codes[name] = httpx.get(f"{url}/readyz", timeout=3).status_code
        except httpx.HTTPError:
            codes[name] = "unreachable"
    return codes


def test_every_service_survives_a_broker_outage(jwt_secret, tmp_path, fault_report):
    services = {
        "ingest": {"DELIVERY_TIMEOUT_MS": "1500"},  # the 503 after 1.5 s without acknowledgement, not 5 s
        "metrics": {"CLICKHOUSE_URL": f"chdb://{tmp_path / 'chdb'}"},
        "notifier": {},
        "survey": {},
    }
    login = lambda: {"event_id": str(uuid4()), "type": "login", "member_id": "m-out",  # noqa: E731
                     "occurred_at": "2026-11-02T08:00:00+00:00"}
    token = {"Authorization": f"Bearer {mint_token(jwt_secret, 'm-out')}"}
    with running(jwt_secret, tmp_path, services) as stack:
        port = int(stack.bootstrap.rsplit(":", 1)[1])
        admin = {"Authorization": f"Bearer {mint_token(jwt_secret, 'ops', 'admin')}"}
        enrolled = httpx.post(f"{stack.urls['ingest']}/v1/enrollments", headers=admin, timeout=30, json={
            "member_id": "m-out", "cohort": "c-out", "timezone": "UTC", "enrolled_on": "2026-11-01"})
        assert enrolled.status_code == 202, "ingest refuses events of members never enrolled"
        os.kill(stack.broker_pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while set(readiness(stack).values()) != {503}:
            assert time.monotonic() < deadline, readiness(stack)
            time.sleep(0.5)
        refused = httpx.post(f"{stack.urls['ingest']}/v1/events", json=login(), headers=token, timeout=30)
        assert refused.status_code == 503 and refused.headers["retry-after"]

        broker, _ = start_broker(port)
        try:
            deadline = time.monotonic() + 60
            while set(readiness(stack).values()) != {200}:
                assert time.monotonic() < deadline, readiness(stack)
                time.sleep(0.5)
            while (response := httpx.post(f"{stack.urls['ingest']}/v1/events", json=login(), headers=token,
                                          timeout=30)).status_code != 202:
                assert response.status_code == 503 and time.monotonic() < deadline
                time.sleep(0.5)
            assert response.json()["accepted"] == 1
            assert all(p.poll() is None for p in stack.processes.values()), "no service died"
        finally:
            broker.kill()
    exits = {name: p.returncode for name, p in stack.processes.items()}
    assert exits == dict.fromkeys(services, -signal.SIGTERM), f"a service had to be killed: {exits}"
    fault_report.add("broker outage (all services)", faults_injected=1, inputs_tried=2, requests_refused_correctly=1)
