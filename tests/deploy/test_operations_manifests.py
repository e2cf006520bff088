"""Operations in the manifests: a preStop delay on every Deployment, public routes only over TLS and never to
/docs or /metrics, and the Kafka/ClickHouse operators' metrics wired to the series the alerts read."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
import yaml

from deploy import ops_checks, policy
from deploy.kustomize import render

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[dict]]:
    return {o: render(ROOT / "deploy" / "k8s" / "overlays" / o) for o in ("dev", "prod")}


def _one(resources: list[dict], kind: str, name: str) -> dict:
    (found,) = [r for r in resources if r["kind"] == kind and r["metadata"]["name"] == name]
    return found


def _routes_to(resources: list[dict], path: str, host: str | None = None) -> list[str]:
    """The Services an HTTPS request for `path` (on `host`) could reach through the public routes."""
    out = []
    for route in (r for r in resources if r["kind"] == "HTTPRoute"):
        if host and route["spec"].get("hostnames") and host not in route["spec"]["hostnames"]:
            continue
        for rule in route["spec"]["rules"]:
            if rule.get("backendRefs") and any(ops_checks._covers(m, path) for m in rule.get("matches") or [{}]):
                out += [b["name"] for b in rule["backendRefs"]]
    return out


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_every_deployment_waits_before_sigterm(rendered, overlay):
    deployments = [r for r in rendered[overlay] if r["kind"] == "Deployment"]
    assert len(deployments) == 7  # the four services, metrics-worker, metrics-stream and the clock
    for deployment in deployments:
        pod = deployment["spec"]["template"]["spec"]
        for container in pod["containers"]:
            seconds = container["lifecycle"]["preStop"]["sleep"]["seconds"]
            assert ops_checks.MIN_PRE_STOP_S <= seconds < pod["terminationGracePeriodSeconds"]
    assert ops_checks.check_pre_stop(rendered[overlay]) == []


def test_deployment_without_pre_stop_refused(rendered):
    resources = copy.deepcopy(rendered["prod"])
    del _one(resources, "Deployment", "ingest")["spec"]["template"]["spec"]["containers"][0]["lifecycle"]
    _one(resources, "Deployment", "notifier")["spec"]["template"]["spec"]["containers"][0]["lifecycle"]["preStop"] = \
        {"sleep": {"seconds": 90}}
    errors = policy.check_all(resources)
    assert any("Deployment/ingest container ingest: no lifecycle.preStop" in e for e in errors), errors
    assert any("Deployment/notifier" in e and "terminationGracePeriodSeconds" in e for e in errors), errors


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_public_routes_serve_the_apps_and_staff_over_tls_only(rendered, overlay):
    resources = rendered[overlay]
    gateway = _one(resources, "Gateway", "carecircle")
    served = {listener["name"]: listener for listener in gateway["spec"]["listeners"]}
    for name in ("api", "survey", "dashboard", "console"):
        assert served[name]["protocol"] == "HTTPS" and served[name]["tls"]["mode"] == "Terminate"
        assert served[name]["tls"]["certificateRefs"]
    assert _routes_to(resources, "/v1/events", "api.carecircle.example.org") == ["ingest"]
    assert _routes_to(resources, "/", "dashboard.carecircle.example.org") == ["metrics"]
    assert _routes_to(resources, "/v1/cohorts/c-1/weekly", "dashboard.carecircle.example.org") == ["metrics"]
    assert _routes_to(resources, "/", "console.carecircle.example.org") == ["notifier"]
    assert _routes_to(resources, "/v1/alerts", "console.carecircle.example.org") == ["notifier"]
    assert _routes_to(resources, "/v1/surveys/pending", "survey.carecircle.example.org") == ["survey"]
    redirect = _one(resources, "HTTPRoute", "https-redirect")["spec"]["rules"][0]
    assert redirect["filters"][0]["requestRedirect"] == {"scheme": "https", "statusCode": 301}
    assert policy.check_all(resources) == []


@pytest.mark.parametrize("path", ["/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json", "/metrics",
                                  "/healthz", "/readyz", "/v1/enrollments", "/v1/admin/clock"])
def test_internal_paths_are_not_public(rendered, path):
    assert _routes_to(rendered["prod"], path) == []


def test_a_catch_all_route_or_a_plain_http_backend_is_refused(rendered):
    resources = copy.deepcopy(rendered["prod"])
    dashboard = _one(resources, "HTTPRoute", "dashboard")
    dashboard["spec"]["rules"][0]["matches"] = [{"path": {"type": "PathPrefix", "value": "/"}}]
    ingest = _one(resources, "HTTPRoute", "ingest-app")
    ingest["spec"]["parentRefs"][0]["sectionName"] = "http-redirect"
    errors = ops_checks.check_public_routes(resources)
    assert any("HTTPRoute/dashboard" in e and "/docs" in e and "/metrics" in e for e in errors), errors
    assert any("HTTPRoute/ingest-app: served on listener http-redirect without TLS" in e for e in errors), errors


def test_gateway_api_schema_refuses_a_misspelt_field_and_a_missing_backend(rendered):
    resources = copy.deepcopy(rendered["prod"])
    route = _one(resources, "HTTPRoute", "survey")
    route["spec"]["hostname"] = route["spec"].pop("hostnames")
    route["spec"]["rules"][0]["backendRefs"][0]["port"] = 9999
    errors = policy.validate_custom(resources) + ops_checks.check_public_routes(resources)
    assert any("HTTPRoute/survey" in e and "'hostname' was unexpected" in e for e in errors), errors
    assert any("Service survey has no port 9999" in e for e in errors), errors


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_kafka_and_clickhouse_operator_metrics_feed_the_operator_alerts(rendered, overlay):
    resources = rendered[overlay]
    kafka = _one(resources, "Kafka", "carecircle")["spec"]["kafka"]["metricsConfig"]
    ref = kafka["valueFrom"]["configMapKeyRef"]
    config = yaml.safe_load(_one(resources, "ConfigMap", ref["name"])["data"][ref["key"]])
    produced = set()
    for rule in config["rules"]:
        domain, typ, names = re.fullmatch(r"kafka\.\((\w+)\)<type=\((\w+)\), name=\(([\w|]+)\)><>Value",
                                          rule["pattern"]).groups()
        produced |= {f"kafka_{domain}_{typ}_{n}".lower() for n in names.split("|")}
    alerts = (ROOT / "deploy" / "prometheus" / "operator-alerts.yml").read_text()
    used = {n for n in re.findall(r"\bkafka_[a-z_]+\b", alerts) if not n.startswith("kafka_consumergroup")}
    assert used and used <= produced, used - produced
    brokers = _one(resources, "PodMonitor", "carecircle-kafka-brokers")
    assert brokers["spec"]["podMetricsEndpoints"][0]["port"] == "tcp-prometheus"
    assert brokers["spec"]["selector"]["matchLabels"]["strimzi.io/cluster"] == "carecircle"
    clickhouse = _one(resources, "ServiceMonitor", "clickhouse-operator-metrics")
    assert clickhouse["spec"]["endpoints"][0]["port"] == "clickhouse-operator-metrics"
    assert "chi_clickhouse_metric_ReadonlyReplica" in alerts
    rules = {r["metadata"]["name"] for r in resources if r["kind"] == "PrometheusRule"}
    assert rules == {"carecircle-alerts", "carecircle-operator-alerts"}
