"""No secret and no payload value reaches a log (docs/security.md, "Logs"): all four services run as
real processes at DEBUG level; the suite sends them tokens, hostile bodies with marked values and an
invalid record on `members`, gives metrics a ClickHouse URL with a password; then every service's log
is searched for each secret and marked value."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from uuid import uuid4

import httpx

from contracts.topics import MEMBERS
from services.common.broker import free_port
from services.common.kafka import Publisher, Record

CH_PASSWORD = "CH-PASSWORD-5d1e"
MARKS = {"call note": "NOTE-MARK-91ab", "survey free text": "FREE-TEXT-MARK-77c2", "post text": "POST-MARK-3f0e",
         "malformed body": "MALFORMED-MARK-0c4d", "invalid member record": "RECORD-MARK-aa19"}


def launch(name: str, env: dict[str, str], log_path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", f"services.{name}"], env=env, stdout=open(log_path, "ab"),
                            stderr=subprocess.STDOUT)


def wait_for(path, text: str, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while text not in path.read_text():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{text!r} never appeared in {path.name}")
        time.sleep(0.2)


def test_no_secret_or_payload_value_in_any_service_log(broker, jwt_secret, mint, tmp_path, fault_report):
    ports = {name: free_port() for name in ("ingest", "metrics", "notifier", "survey")}
    common = dict(os.environ, KAFKA_BOOTSTRAP=broker, JWT_SECRET=jwt_secret, LOG_LEVEL="DEBUG",
                  FAUST_DATADIR=str(tmp_path / "faust"))
    env = {name: common | {f"{name.upper()}_PORT": str(port)} for name, port in ports.items()}
    env["metrics"] |= {"CLICKHOUSE_URL": f"chdb://{tmp_path / 'chdb'}"}
    logs = {name: tmp_path / f"{name}.log" for name in ports}
    processes = {name: launch(name, env[name], logs[name]) for name in ports}
    url = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    member, nurse = mint("m-log"), mint("n-log", "nurse", ("c-log",))
    forged = member[:-6] + "AAAAAA"
    tried = 0
    try:
        wait_for(logs["metrics"], "metrics_started")
        for name in ("ingest", "notifier", "survey"):
            wait_for(logs[name], "_started")
        http = httpx.Client(timeout=15)
        for name in ports:  # wait until every API answers
            deadline = time.monotonic() + 60
            while True:
                try:
                    http.get(f"{url[name]}/healthz")
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)
        post = {"event_id": str(uuid4()), "type": "post", "member_id": "m-log", "occurred_at": "2026-11-02T08:00:00+00:00",
                "payload": {"channel": "community", "text": MARKS["post text"]}}
        requests = [
            ("POST", f"{url['ingest']}/v1/events", member, [post]),
            ("POST", f"{url['ingest']}/v1/events", forged, [post]),
            ("POST", f"{url['ingest']}/v1/events", member, f'[{{"text": "{MARKS["malformed body"]}"'),
            ("POST", f"{url['notifier']}/v1/alerts/{uuid4()}/calls", nurse,
             {"outcome": "reached", "note": MARKS["call note"]}),
            ("POST", f"{url['notifier']}/v1/alerts/{uuid4()}/calls", nurse, {"outcome": 7, "note": MARKS["call note"]}),
            ("POST", f"{url['survey']}/v1/surveys/{uuid4()}/responses", member,
             {"answers": {"q3": MARKS["survey free text"]}}),
            ("GET", f"{url['metrics']}/v1/cohorts/c-log/weekly", nurse, None),
            ("GET", f"{url['metrics']}/v1/cohorts/c-log/weekly", forged, None),
        ]
        for method, target, token, body in requests:
            kwargs = {} if body is None else {"content": body} if isinstance(body, str) else {"json": body}
            http.request(method, target, headers={"Authorization": f"Bearer {token}"}, **kwargs)
            tried += 1
        bad_record = {"type": "member.enrolled", "event_id": str(uuid4()), "member_id": "m-log", "cohort": "c-log",
                      "timezone": f"Mars/{MARKS['invalid member record']}", "enrolled_on": "2026-09-01",
                      "occurred_at": "2026-09-01T00:00:00+00:00"}
        publisher = Publisher(broker)
        asyncio.run(publisher.publish([Record(MEMBERS.name, b"m-log", json.dumps(bad_record).encode())]))
        publisher.close()
        tried += 1
        wait_for(logs["survey"], "member_record_invalid")
    finally:
        for process in processes.values():
            process.terminate()
        for process in processes.values():
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
    secrets = {"JWT secret": jwt_secret, "member token": member,
               "nurse token": nurse, "forged token": forged, **MARKS}
    leaks = [(service, what) for service, path in logs.items() for what, secret in secrets.items()
             if secret in path.read_text()]
    fault_report.add("log secrets", inputs_tried=tried * len(secrets), requests_refused_correctly=tried - len(leaks))
    assert leaks == []


def test_metrics_logs_its_clickhouse_url_without_the_password(tmp_path, capfd, broker, jwt_secret, monkeypatch):
    """No ClickHouse server runs here: the URL with credentials is the service's setting, and the client
    it would open is replaced by the embedded engine (the one substitution); the log line is the real one."""
    from fastapi.testclient import TestClient

    import services.metrics.app as metrics_app
    from services.metrics.clickhouse import connect
    from services.metrics.settings import MetricsSettings

    monkeypatch.setattr(metrics_app, "connect", lambda url, replicated=False: connect(f"chdb://{tmp_path / 'chdb'}"))
    url = f"clickhouse://carecircle_reader:{CH_PASSWORD}@clickhouse:9000/carecircle"
    settings = MetricsSettings(kafka_bootstrap=broker, jwt_secret=jwt_secret, clickhouse_url=url,
                               faust_datadir=str(tmp_path / "faust"), run_stream=False, rollup_interval_s=0)
    with TestClient(metrics_app.create_app(settings)):
        pass
    out = capfd.readouterr().out
    assert "metrics_started" in out and "carecircle_reader:[redacted]@clickhouse:9000" in out
    assert CH_PASSWORD not in out
