"""Least privilege in ClickHouse (docs/deploy.md "ClickHouse accounts"): the sink alone writes, the metrics API
and Grafana read through a SELECT-only account, no account is open to the whole Internet, passwords come
from a Secret, replicas never share a node, the server version is pinned."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from deploy.kustomize import render

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def prod() -> list[dict]:
    return render(ROOT / "deploy" / "k8s" / "overlays" / "prod")


def _chi(resources):
    (chi,) = [r for r in resources if r["kind"] == "ClickHouseInstallation"]
    return chi


def _accounts(chi) -> dict[str, dict]:
    accounts: dict[str, dict] = {}
    for key, value in chi["spec"]["configuration"]["users"].items():
        user, _, setting = key.partition("/")
        accounts.setdefault(user, {})[setting] = value
    return accounts


def _env(resources, deployment: str) -> dict:
    (found,) = [r for r in resources if r["kind"] == "Deployment" and r["metadata"]["name"] == deployment]
    return {e["name"]: e for e in found["spec"]["template"]["spec"]["containers"][0].get("env", [])}


def test_reader_can_only_select_and_writer_is_the_sinks(prod):
    accounts = _accounts(_chi(prod))
    assert accounts["carecircle_reader"]["grants/query"] == ["GRANT SELECT ON carecircle.*"]
    assert _chi(prod)["spec"]["configuration"]["profiles"]["reader/readonly"] == 2
    assert not any("INSERT" in g for g in accounts["carecircle_backup"]["grants/query"])
    api = _env(prod, "metrics")["CLICKHOUSE_URL"]["valueFrom"]["secretKeyRef"]
    sink = _env(prod, "metrics-worker")["CLICKHOUSE_URL"]["valueFrom"]["secretKeyRef"]
    assert api == {"name": "carecircle-clickhouse", "key": "CLICKHOUSE_READER_URL"}
    assert sink == {"name": "carecircle-clickhouse", "key": "CLICKHOUSE_URL"}
    template = (ROOT / "deploy" / "k8s" / "secrets" / "carecircle-secrets.template.yaml").read_text()
    assert re.search(r"CLICKHOUSE_READER_URL: clickhouse://carecircle_reader:", template)
    assert re.search(r"CLICKHOUSE_URL: clickhouse://carecircle_writer:", template)


def test_grafana_reads_as_the_reader():
    datasources = (ROOT / "deploy" / "grafana" / "provisioning" / "datasources" / "datasources.yml").read_text()
    assert "username: carecircle_reader" in datasources


def test_no_account_open_to_every_address_and_passwords_from_a_secret(prod):
    for user, settings in _accounts(_chi(prod)).items():
        networks = settings["networks/ip"]
        assert networks and not {"::/0", "0.0.0.0/0", "::"} & set(networks), user
        assert set(settings["password"]) == {"valueFrom"}, user  # never inline, never k8s_secret_ (ConfigMap)
        assert settings["password"]["valueFrom"]["secretKeyRef"]["name"] == "carecircle-clickhouse"


def test_replicas_spread_and_version_pinned(prod):
    chi = _chi(prod)
    (template,) = chi["spec"]["templates"]["podTemplates"]
    assert {d["type"] for d in template["podDistribution"]} >= {"ReplicaAntiAffinity"}
    image = template["spec"]["containers"][0]["image"]
    assert re.fullmatch(r"clickhouse/clickhouse-server:\d+\.\d+(\.\d+)*", image), image
    (keeper,) = [r for r in prod if r["kind"] == "ClickHouseKeeperInstallation"]
    keeper_image = keeper["spec"]["templates"]["podTemplates"][0]["spec"]["containers"][0]["image"]
    assert keeper_image.split(":")[1] == image.split(":")[1]


def test_only_the_metrics_workloads_reach_clickhouse(prod):
    (policy,) = [r for r in prod if r["kind"] == "NetworkPolicy" and r["metadata"]["name"] == "allow-clickhouse"]
    selectors = [p["podSelector"] for rule in policy["spec"]["ingress"] for p in rule["from"]
                 if "podSelector" in p and "namespaceSelector" not in p]
    names = {v for s in selectors for e in s.get("matchExpressions", []) for v in e["values"]}
    assert "ingest" not in names and "notifier" not in names and "survey" not in names
    assert {"metrics", "metrics-worker"} <= names
