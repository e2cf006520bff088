"""The container contract, run for real without Docker: start every service exactly as its Kubernetes
Deployment configures it (env from the Deployment, its ConfigMaps and the dev Secrets, a writable working
directory like the image's WORKDIR, code on PYTHONPATH like the image), all at once against a fresh real
broker (the metrics API Deployment, which runs neither sink nor stream, against no broker at all); then
each manifest's readiness and liveness probe paths and /metrics must answer, and the Dockerfile's
HEALTHCHECK command must pass while the service runs and fail once it is gone."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from deploy.kustomize import render
from services.common.broker import free_port, start_broker
from services.common.kafka import ensure_topics

ROOT = Path(__file__).resolve().parents[2]
# every Deployment -> the service (package, image, settings prefix) it runs
DEPLOYMENTS = {"ingest": "ingest", "metrics": "metrics", "metrics-worker": "metrics", "metrics-stream": "metrics",
               "notifier": "notifier", "survey": "survey"}
pytestmark = pytest.mark.broker

_MIGRATE = """import sys
from services.metrics.clickhouse import connect
from services.metrics.schema import migrate
ch = connect(sys.argv[1])
migrate(ch)
ch.close()
"""


def _container_env(resources: list[dict], name: str, secrets: dict[str, str]) -> dict[str, str]:
    maps = {r["metadata"]["name"]: r.get("data", {}) for r in resources if r["kind"] == "ConfigMap"}
    deployment = next(r for r in resources if r["kind"] == "Deployment" and r["metadata"]["name"] == name)
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        env.update(maps[source["configMapRef"]["name"]])
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = item["value"]
        else:
            reference = item["valueFrom"]["secretKeyRef"]
            # KafkaUser passwords are written by Strimzi's User Operator into Secret <user>, not shipped
            env[item["name"]] = secrets.get(reference["key"], f"generated-for-{reference['name']}")
    return env


def _healthcheck(name: str) -> list[str]:
    text = (ROOT / "deploy" / "docker" / "Dockerfile").read_text().replace("\\\n", " ")
    match = re.search(r"^HEALTHCHECK .*?CMD (\[.*\])\s*$", text, re.MULTILINE)
    assert match, "no exec-form HEALTHCHECK CMD"
    command = json.loads(match.group(1))
    assert command[0] == "python"
    return [sys.executable, *command[1:]]


@pytest.fixture(scope="module")
def running(jwt_secret, tmp_path_factory):
    """Every service started from its prod Deployment's env, concurrently (start-up is mostly waiting)."""
    broker_process, bootstrap = start_broker()  # a fresh log: start-up replays the service's topics
    ensure_topics(bootstrap)  # Strimzi's job in the cluster (ENSURE_TOPICS=false in the ConfigMap)
    resources = render(ROOT / "deploy" / "k8s" / "overlays" / "prod")
    dev_secrets = {k: v for r in render(ROOT / "deploy" / "k8s" / "overlays" / "dev") if r["kind"] == "Secret"
                   for k, v in r["stringData"].items()}
    started = {}
    try:
        for name, service in DEPLOYMENTS.items():
            tmp = tmp_path_factory.mktemp(name)
            env = _container_env(resources, name, {**dev_secrets, "JWT_SECRET": jwt_secret})
            prefix = service.upper()
            assert env[f"{prefix}_HOST"] == "0.0.0.0" and env["ENSURE_TOPICS"] == "false"
            port = free_port()  # the manifest's port is fixed; tests share the machine
            # prod authenticates to Kafka over TLS (tests/deploy/test_deploy_kafka_security.py checks those
            # client settings); the test broker speaks plaintext only
            assert env["KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
            env["KAFKA_SECURITY_PROTOCOL"] = "PLAINTEXT"
            env.update({
                "KAFKA_BOOTSTRAP": bootstrap, f"{prefix}_PORT": str(port), "FAUST_DATADIR": str(tmp / "faust"),
                "PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1",
                "SERVICE": service,  # ENV of the image built with --build-arg SERVICE=<service>
            })
            if "CLICKHOUSE_URL" in env:  # no ClickHouse server here: the same client interface on embedded chDB
                assert env["CLICKHOUSE_URL"].startswith("clickhouse://")
                env["CLICKHOUSE_URL"] = f"chdb://{tmp / 'chdb'}"  # one per process: chDB locks its directory
                # prod's server cluster is Keeper-replicated; chDB has no Keeper
                # (test_replicated_schema checks that DDL)
                assert env.pop("CLICKHOUSE_REPLICATED") == "true"
                if env.get("METRICS_RUN_SINK") == "false":  # the API alone: the worker migrates the shared store
                    subprocess.run([sys.executable, "-c", _MIGRATE, env["CLICKHOUSE_URL"]], cwd=ROOT, check=True,
                                   timeout=120)
            if env.get("METRICS_RUN_SINK") == env.get("METRICS_RUN_STREAM") == "false":
                env["KAFKA_BOOTSTRAP"] = f"127.0.0.1:{free_port()}"  # no Kafka: its egress policy allows none
            workdir = tmp / "workdir"
            workdir.mkdir()
            process = subprocess.Popen([sys.executable, "-m", f"services.{service}"], cwd=workdir, env=env,
                                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            deployment = next(r for r in resources if r["kind"] == "Deployment" and r["metadata"]["name"] == name)
            started[name] = {"process": process, "port": port, "env": env,
                             "container": deployment["spec"]["template"]["spec"]["containers"][0]}
        yield started
    finally:
        for service in started.values():
            if service["process"].poll() is None:
                service["process"].terminate()
                service["process"].communicate(timeout=20)
        broker_process.terminate()
        broker_process.wait(10)


@pytest.mark.parametrize("name", list(DEPLOYMENTS))
def test_service_answers_its_probes_and_healthcheck(running, name):
    service = running[name]
    base = f"http://127.0.0.1:{service['port']}"
    readiness = service["container"]["readinessProbe"]["httpGet"]["path"]
    deadline = time.monotonic() + 60  # generous: the startupProbe allows 300 s
    status = None
    while time.monotonic() < deadline and service["process"].poll() is None:
        try:
            status = httpx.get(base + readiness, timeout=2).status_code
            if status == 200:
                break
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    assert status == 200, f"{readiness} never answered 200 (last {status}, exit {service['process'].poll()})"
    assert httpx.get(base + service["container"]["livenessProbe"]["httpGet"]["path"], timeout=2).status_code == 200
    metrics = httpx.get(base + "/metrics", timeout=2)
    assert metrics.status_code == 200 and "http_requests_in_flight" in metrics.text
    check = subprocess.run(_healthcheck(name), env=service["env"], capture_output=True, timeout=10)
    assert check.returncode == 0, check.stderr


@pytest.mark.parametrize("name", list(DEPLOYMENTS))
def test_healthcheck_fails_once_the_service_is_gone_and_it_stopped_cleanly(running, name):
    service = running[name]
    service["process"].terminate()  # SIGTERM, what Kubernetes sends first
    output = service["process"].communicate(timeout=20)[0].decode(errors="replace")
    assert subprocess.run(_healthcheck(name), env=service["env"], capture_output=True, timeout=10).returncode != 0
    assert "Traceback" not in output, output[-2000:]
