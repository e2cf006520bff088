"""Backups in the manifests: a nightly CronJob runs the tested backup code (services/metrics/tests/test_backup.py)
as the BACKUP-only account; the rebuild from the Kafka log is a suspended CronJob used as a Job template;
the Kafka log is replicated to a disaster-recovery cluster by MirrorMaker 2; the restore runbook exists."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from deploy.kustomize import render

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[dict]]:
    return {name: render(ROOT / "deploy" / "k8s" / "overlays" / name) for name in ("dev", "prod")}


def _cronjob(resources, name):
    (job,) = [r for r in resources if r["kind"] == "CronJob" and r["metadata"]["name"] == name]
    return job, job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]


def _env(container) -> dict:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def test_nightly_backup_runs_the_tested_code_as_the_backup_account(rendered):
    job, container = _cronjob(rendered["prod"], "clickhouse-backup")
    assert not job["spec"].get("suspend") and job["spec"]["concurrencyPolicy"] == "Forbid"
    assert container["command"] == ["python", "-m", "services.metrics.backup", "create"]
    assert _env(container)["CLICKHOUSE_URL"] == {"secretKeyRef": {"name": "carecircle-clickhouse",
                                                                  "key": "CLICKHOUSE_BACKUP_URL"}}
    assert "JWT_SECRET" not in _env(container)  # a backup pod holds no token key
    (config,) = [r for r in rendered["prod"]
                 if r["kind"] == "ConfigMap" and r["metadata"]["name"] == "carecircle-backup"]
    assert config["data"]["BACKUP_TARGET"].startswith("s3://")
    dev_job, _ = _cronjob(rendered["dev"], "clickhouse-backup")
    assert dev_job["spec"]["suspend"] is True  # no bucket in dev


def test_rebuild_job_template_never_runs_by_itself(rendered):
    for overlay in ("dev", "prod"):
        job, container = _cronjob(rendered[overlay], "metrics-rebuild")
        assert job["spec"]["suspend"] is True
        assert container["command"][:3] == ["python", "-m", "services.metrics.rebuild"]
        env = _env(container)
        assert env["KAFKA_SASL_USERNAME"] == "metrics"
        assert env["CLICKHOUSE_URL"]["secretKeyRef"]["key"] == "CLICKHOUSE_URL"  # the writer


@pytest.mark.parametrize("module", ["services.metrics.backup", "services.metrics.rebuild"])
def test_job_commands_exist(module):
    run = subprocess.run([sys.executable, "-m", module, "--help"], cwd=ROOT, capture_output=True, text=True,
                         timeout=60, env={"PATH": "/usr/bin:/bin", "JWT_SECRET": "x" * 40, "PYTHONPATH": str(ROOT)})
    assert run.returncode == 0, run.stderr


def test_kafka_log_replicated_to_the_dr_cluster(rendered):
    (mirror,) = [r for r in rendered["prod"] if r["kind"] == "KafkaMirrorMaker2"]
    (source,) = mirror["spec"]["mirrors"]
    assert source["source"]["authentication"]["username"] == "mirror"
    assert source["topicsPattern"] == ".*"
    assert "IdentityReplicationPolicy" in source["sourceConnector"]["config"]["replication.policy.class"]
    (user,) = [r for r in rendered["prod"] if r["kind"] == "KafkaUser" and r["metadata"]["name"] == "mirror"]
    operations = {op for acl in user["spec"]["authorization"]["acls"] for op in acl["operations"]}
    assert not {"Write", "All", "Alter", "Delete"} & operations  # the mirror only reads the primary


def test_restore_runbook_exists_and_names_the_commands():
    runbook = (ROOT / "docs" / "runbooks" / "clickhouse-restore.md").read_text()
    for needed in ("RESTORE DATABASE", "metrics-rebuild", "scale deployment metrics-worker", "system.backups"):
        assert needed in runbook, needed
