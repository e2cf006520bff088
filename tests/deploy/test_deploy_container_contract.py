"""The container contract, run for real without Docker: start a service exactly as its Kubernetes Deployment
configures it (env from the Deployment and its ConfigMaps, a writable working directory like the image's
WORKDIR, code on PYTHONPATH like the image), against the real broker; then the manifest's readiness and
liveness probe paths and /metrics must answer, and the Dockerfile's HEALTHCHECK command must pass while the
service runs and fail once it is gone."""

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
from services.common.broker import free_port

ROOT = Path(__file__).resolve().parents[2]
LANDED = ["ingest", "notifier", "survey"]  # services whose `python -m services.<name>` exists; add the others as they land


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
            env[item["name"]] = secrets[item["valueFrom"]["secretKeyRef"]["key"]]
    return env


def _healthcheck(dockerfile: Path) -> list[str]:
    text = dockerfile.read_text().replace("\\\n", " ")
    match = re.search(r"^HEALTHCHECK .*?CMD (\[.*\])\s*$", text, re.MULTILINE)
    assert match, "no exec-form HEALTHCHECK CMD"
    return json.loads(match.group(1))


@pytest.mark.broker
@pytest.mark.parametrize("name", LANDED)
def test_service_runs_with_its_deployment_env_and_answers_its_probes(name, own_broker, jwt_secret, tmp_path):
    _, broker = own_broker  # a fresh log: start-up replays the service's topics, the shared broker holds many
    resources = render(ROOT / "deploy" / "k8s" / "overlays" / "prod")
    deployment = next(r for r in resources if r["kind"] == "Deployment" and r["metadata"]["name"] == name)
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    port = free_port()  # the manifest's port is fixed; tests share the machine
    dev_secrets = {k: v for r in render(ROOT / "deploy" / "k8s" / "overlays" / "dev") if r["kind"] == "Secret"
                   for k, v in r["stringData"].items()}
    env = _container_env(resources, name, {**dev_secrets, "JWT_SECRET": jwt_secret})
    assert env[f"{name.upper()}_HOST"] == "0.0.0.0" and env["ENSURE_TOPICS"] == "false"
    env.update({
        "KAFKA_BOOTSTRAP": broker, f"{name.upper()}_PORT": str(port), "FAUST_DATADIR": str(tmp_path / "faust"),
        "PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1",
    })
    workdir = tmp_path / "workdir"
    workdir.mkdir()
    process = subprocess.Popen([sys.executable, "-m", f"services.{name}"], cwd=workdir, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    healthcheck = _healthcheck(ROOT / "services" / name / "Dockerfile")
    assert healthcheck[0] == "python"
    healthcheck[0] = sys.executable
    try:
        base = f"http://127.0.0.1:{port}"
        readiness = container["readinessProbe"]["httpGet"]["path"]
        deadline = time.monotonic() + 60  # generous: the startupProbe allows 300 s
        status = None
        while time.monotonic() < deadline and process.poll() is None:
            try:
                status = httpx.get(base + readiness, timeout=2).status_code
                if status == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        assert status == 200, f"{readiness} never answered 200 (last {status}, exit {process.poll()})"
        assert httpx.get(base + container["livenessProbe"]["httpGet"]["path"], timeout=2).status_code == 200
        metrics = httpx.get(base + "/metrics", timeout=2)
        assert metrics.status_code == 200 and "http_requests_in_flight" in metrics.text
        check = subprocess.run(healthcheck, env=env, capture_output=True, timeout=10)
        assert check.returncode == 0, check.stderr
    finally:
        process.terminate()
        output = process.communicate(timeout=15)[0].decode(errors="replace")
    assert subprocess.run(healthcheck, env=env, capture_output=True, timeout=10).returncode != 0
    assert "Traceback" not in output, output[-2000:]
