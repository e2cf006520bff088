"""Prometheus config and alert rules: `promtool check` accepts them, the promtool unit tests prove each alert
fires on the series that should raise it, and a broken rule or config is refused.

promtool and amtool come from the Debian packages `prometheus` and `prometheus-alertmanager` (.ci/run)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "deploy" / "prometheus"
ALERTMANAGER = ROOT / "deploy" / "alertmanager"
REQUIRED_ALERTS = {  # the list: consumer lag, DLQ growth, ingest 5xx and 503, ClickHouse writes, overdue alerts
    "ConsumerLagHigh", "DeadLetterTopicGrowing", "IngestServerErrors", "IngestBrokerUnavailable",
    "ClickHouseWriteFailures", "NurseAlertsUnacknowledged",
}


@pytest.fixture(scope="module")
def promtool() -> str:
    path = shutil.which("promtool")
    assert path, "promtool missing: `apt-get install prometheus` (.ci/run installs it)"
    return path


def _run(*args, cwd: Path = PROMETHEUS) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, cwd=cwd, timeout=60)


def test_config_and_rules_pass_promtool(promtool):
    run = _run(promtool, "check", "config", "prometheus.yml")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "SUCCESS" in run.stdout and "rules found" in run.stdout


def test_alert_unit_tests_pass(promtool):
    run = _run(promtool, "test", "rules", "alerts.test.yml")
    assert run.returncode == 0, run.stdout + run.stderr


def test_the_required_alerts_exist_are_labelled_and_unit_tested():
    rules = [r for g in yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())["groups"] for r in g["rules"]]
    names = {r["alert"] for r in rules}
    assert REQUIRED_ALERTS <= names
    for rule in rules:
        assert rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], rule["alert"]
    tested = {t["alertname"] for case in yaml.safe_load((PROMETHEUS / "alerts.test.yml").read_text())["tests"]
              for t in case["alert_rule_test"]}
    assert names - {"ConsumerLagGrowing", "NotificationDeliveryFailing"} <= tested


def test_broken_rule_refused(promtool, tmp_path):
    (tmp_path / "rules.yml").write_text(yaml.safe_dump({"groups": [{"name": "g", "rules": [
        {"alert": "Broken", "expr": "sum(rate(ingest_requests_refused_total[5m]) > ", "for": "5m"}]}]}))
    run = _run(promtool, "check", "rules", "rules.yml", cwd=tmp_path)
    assert run.returncode != 0 and "rules.yml" in run.stdout + run.stderr


def test_alert_that_would_not_fire_fails_its_unit_test(promtool, tmp_path):
    """The unit tests can fail: the same test file against a rule with a raised threshold is refused."""
    rules = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            if rule["alert"] == "IngestBrokerUnavailable":
                rule["expr"] = rule["expr"].replace("> 0.1", "> 100")
    (tmp_path / "alerts.yml").write_text(yaml.safe_dump(rules))
    shutil.copy(PROMETHEUS / "alerts.test.yml", tmp_path / "alerts.test.yml")
    run = _run(promtool, "test", "rules", "alerts.test.yml", cwd=tmp_path)
    assert run.returncode != 0 and "IngestBrokerUnavailable" in run.stdout + run.stderr


def test_config_scraping_a_missing_rule_file_refused(promtool, tmp_path):
    (tmp_path / "prometheus.yml").write_text("rule_files:\n  - missing.yml\nscrape_configs: []\n")
    assert _run(promtool, "check", "config", "prometheus.yml", cwd=tmp_path).returncode != 0


@pytest.fixture(scope="module")
def amtool() -> str:
    path = shutil.which("amtool")
    assert path, "amtool missing: `apt-get install prometheus-alertmanager` (.ci/run installs it)"
    return path


def test_alertmanager_config_passes_amtool_and_prometheus_sends_to_it(amtool):
    run = _run(amtool, "check-config", "alertmanager.yml", cwd=ALERTMANAGER)
    assert run.returncode == 0, run.stdout + run.stderr
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    assert config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == ["alertmanager:9093"]


def test_alertmanager_route_to_unknown_receiver_refused(amtool, tmp_path):
    config = yaml.safe_load((ALERTMANAGER / "alertmanager.yml").read_text())
    config["route"]["routes"][0]["receiver"] = "pager"  # no such receiver
    (tmp_path / "alertmanager.yml").write_text(yaml.safe_dump(config))
    run = _run(amtool, "check-config", "alertmanager.yml", cwd=tmp_path)
    assert run.returncode != 0 and "pager" in run.stdout + run.stderr


_SERIES_SCRIPT = r"""
import importlib, json, sys
from prometheus_client import REGISTRY
found = {}
for service in sys.argv[1:]:
    for module in (f"services.{service}.telemetry", f"services.{service}.sink"):
        try:
            importlib.import_module(module)
            found[service] = True
        except ModuleNotFoundError as exc:
            if not module.startswith(exc.name or "\0"):
                raise
names = set()
for family in REGISTRY.collect():
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"),
                "summary": ("_sum", "_count")}.get(family.type, ("",))
    names |= {family.name + suffix for suffix in suffixes}
print(json.dumps({s: sorted(n for n in names if n.startswith(s + "_")) if s in found else None for s in sys.argv[1:]}))
"""


@pytest.fixture(scope="module")
def exposed_series() -> dict[str, set[str] | None]:
    """Series each service's telemetry/sink modules register (None: not landed), read in a fresh interpreter
    so that other tests' module reloads cannot collide in the process-wide registry."""
    import json
    import sys

    run = subprocess.run([sys.executable, "-c", _SERIES_SCRIPT, "ingest", "metrics", "notifier", "survey", "nosuch"],
                         capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert run.returncode == 0, run.stderr
    found = json.loads(run.stdout.strip().splitlines()[-1])
    assert found["nosuch"] is None
    return {service: None if names is None else set(names) for service, names in found.items()}


def test_service_series_used_by_the_rules_are_exposed_by_the_services(exposed_series):
    """A renamed counter would leave its alert silent forever; checked for each service that has landed."""
    import re

    rules = [r for g in yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())["groups"] for r in g["rules"]]
    used = {name for r in rules for name in re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", r["expr"])}
    checked = 0
    for service in ("ingest", "metrics", "notifier", "survey"):
        wanted = {name for name in used if name.startswith(f"{service}_")}
        exposed = exposed_series[service]
        if exposed is None or not wanted:
            continue
        assert wanted <= exposed, f"{service} does not expose {sorted(wanted - exposed)}"
        checked += 1
    assert checked >= 3  # ingest, metrics, notifier today


def test_service_health_dashboard_queries_are_valid_promql(promtool, tmp_path):
    """Grafana can't run here; promtool parses every panel's query (as a recording rule) instead."""
    import json

    dashboard = json.loads((ROOT / "deploy" / "grafana" / "dashboards" / "carecircle-service-health.json").read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    assert len(exprs) >= 10 and all(p["datasource"]["uid"] == "prometheus" for p in dashboard["panels"])

    def check(expressions: list[str]) -> subprocess.CompletedProcess:
        rules = [{"record": f"dashboard:panel{i}", "expr": e} for i, e in enumerate(expressions)]
        (tmp_path / "panels.yml").write_text(yaml.safe_dump({"groups": [{"name": "panels", "rules": rules}]}))
        return _run(promtool, "check", "rules", "panels.yml", cwd=tmp_path)

    run = check(exprs)
    assert run.returncode == 0, run.stdout + run.stderr
    assert check([*exprs, "sum by (type) (rate(ingest_events_accepted_total[5m])"]).returncode != 0


def test_service_health_dashboard_reads_series_the_services_expose(exposed_series):
    import json
    import re

    dashboard = json.loads((ROOT / "deploy" / "grafana" / "dashboards" / "carecircle-service-health.json").read_text())
    used = {
        n for p in dashboard["panels"] for t in p["targets"] for n in re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", t["expr"])
    }
    for service in ("ingest", "metrics", "notifier", "survey"):
        wanted = {n.removesuffix("_bucket") for n in used if n.startswith(f"{service}_")}
        exposed = exposed_series[service]
        if exposed is not None:
            exposed = exposed | {n.removesuffix("_bucket") for n in exposed}
            assert wanted <= exposed, f"{service} does not expose {sorted(wanted - exposed)}"
