"""docker-compose.yml against the Compose specification (what `docker compose config` would resolve), and
its wiring: every service, Kafka, ClickHouse, Prometheus scraping every /metrics, Grafana provisioning."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from deploy.policy import SERVICES

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
CHECK_JSONSCHEMA = Path(sys.executable).parent / "check-jsonschema"


def _check(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([CHECK_JSONSCHEMA, "--builtin-schema", "vendor.compose-spec", path],
                          capture_output=True, text=True)


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def test_compose_file_matches_the_compose_specification():
    run = _check(COMPOSE)
    assert run.returncode == 0, run.stdout + run.stderr


@pytest.mark.parametrize(
    "broken",
    [
        {"services": {"ingest": {"image": "x", "depends_on": {"kafka": {"condition": "when_ready"}}}}},
        {"services": {"ingest": {"image": "x", "enviroment": {"KAFKA_BOOTSTRAP": "kafka:9092"}}}},
        {"services": {"ingest": {"image": "x", "healthcheck": {"test": ["CMD", "true"], "interval": 10, "retrys": 3}}}},
    ],
    ids=["bad-depends-on-condition", "typo-in-service-key", "typo-in-healthcheck"],
)
def test_broken_compose_file_refused(tmp_path, broken):
    path = tmp_path / "docker-compose.yml"
    path.write_text(yaml.safe_dump(broken))
    assert _check(path).returncode != 0


@pytest.mark.parametrize("name", list(SERVICES))
def test_every_service_is_built_and_wired(compose, name):
    port, _ = SERVICES[name]
    service = compose["services"][name]
    assert (ROOT / service["build"]["dockerfile"]).exists() and service["build"]["context"] == "."
    env = {k: str(v) for k, v in service["environment"].items()}
    assert env["KAFKA_BOOTSTRAP"] == "kafka:9092"
    assert env["JWT_SECRET"].startswith("${JWT_SECRET:?")  # no fallback to the dev secret (docs/security.md)
    assert env[f"{name.upper()}_HOST"] == "0.0.0.0"
    assert env[f"{name.upper()}_PORT"] == str(port)
    assert f"{port}:{port}" in service["ports"]
    assert service["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert service["read_only"] is True and service["user"] == "10001:10001"


def test_engines_and_service_specific_settings(compose):
    services = compose["services"]
    kafka = services["kafka"]["environment"]
    assert kafka["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft, no ZooKeeper
    assert "healthcheck" in services["kafka"] and "healthcheck" in services["clickhouse"]
    metrics = services["metrics"]
    assert metrics["environment"]["CLICKHOUSE_URL"].startswith("clickhouse://carecircle:")
    assert metrics["environment"]["CLICKHOUSE_URL"].endswith("@clickhouse:9000/carecircle")
    assert metrics["depends_on"]["clickhouse"]["condition"] == "service_healthy"
    notifier = services["notifier"]["environment"]
    assert notifier["NOTIFIER_SMTP_HOST"] == "mailpit" and "NOTIFIER_PUSH_GATEWAY_URL" in notifier
    # faust services keep their table data on a volume (the root filesystem is read-only)
    for name in ("metrics", "notifier", "survey"):
        assert f"{name}-data:/var/lib/carecircle" in services[name]["volumes"]


def test_prometheus_scrapes_every_service_and_loads_the_rules(compose):
    volumes = compose["services"]["prometheus"]["volumes"]
    assert "./deploy/prometheus/alerts.yml:/etc/prometheus/alerts.yml:ro" in volumes
    config = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    targets = {job["job_name"]: job["static_configs"][0]["targets"] for job in config["scrape_configs"]}
    for name, (port, _) in SERVICES.items():
        assert targets[name] == [f"{name}:{port}"]
    assert targets["kafka-exporter"] == ["kafka-exporter:9308"] and "kafka-exporter" in compose["services"]
    assert config["rule_files"] == ["alerts.yml"]
    assert "./deploy/alertmanager/alertmanager.yml:/etc/alertmanager/alertmanager.yml:ro" in (
        compose["services"]["alertmanager"]["volumes"])


def test_grafana_is_provisioned_with_both_data_sources_and_the_dashboards_folder(compose):
    grafana = compose["services"]["grafana"]
    assert "grafana-clickhouse-datasource" in grafana["environment"]["GF_INSTALL_PLUGINS"]
    sources = {v.split(":")[1]: ROOT / v.split(":")[0] for v in grafana["volumes"] if v.startswith("./")}
    assert sources["/etc/grafana/provisioning"].is_dir() and sources["/var/lib/grafana/dashboards"].is_dir()
    datasources = yaml.safe_load((sources["/etc/grafana/provisioning"] / "datasources" / "datasources.yml").read_text())
    by_type = {d["type"]: d for d in datasources["datasources"]}
    assert by_type["prometheus"]["url"] == "http://prometheus:9090"
    clickhouse = by_type["grafana-clickhouse-datasource"]
    assert clickhouse["jsonData"]["host"] == "clickhouse" and clickhouse["jsonData"]["port"] == 9000
    assert clickhouse["secureJsonData"]["password"] == "$CLICKHOUSE_PASSWORD"
    assert "CLICKHOUSE_PASSWORD" in grafana["environment"]
    providers = yaml.safe_load((sources["/etc/grafana/provisioning"] / "dashboards" / "carecircle.yml").read_text())
    assert providers["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"


def test_dashboards_in_the_folder_are_valid_json():
    uids = []
    for path in sorted((ROOT / "deploy" / "grafana" / "dashboards").glob("*.json")):
        dashboard = json.loads(path.read_text())
        assert dashboard.get("title"), f"{path.name}: no title"
        uids.append(dashboard.get("uid") or path.name)
    assert len(uids) == len(set(uids)), "two dashboards share a uid"


def test_compose_references_resolve(compose):
    from deploy.policy import check_compose

    assert check_compose(compose) == []
    for name in SERVICES:
        assert (ROOT / compose["services"][name]["build"]["dockerfile"]).is_file()


def test_unresolvable_compose_references_refused(compose):
    import copy

    from deploy.policy import check_compose

    broken = copy.deepcopy(compose)
    broken["services"]["metrics"]["depends_on"]["clickhous"] = {"condition": "service_healthy"}
    broken["services"]["survey"]["volumes"].append("survey-cache:/cache")
    broken["services"]["grafana"]["ports"].append("8001:3001")
    broken["services"]["metrics"]["deploy"] = {"replicas": 2}
    assert check_compose(broken) == [
        "service metrics: depends_on undefined service clickhous",
        "service survey: volume survey-cache is not declared under top-level volumes",
        "services ingest and grafana both publish host port 8001",
        "service metrics: 2 containers running METRICS_RUN_SINK: must be exactly one (the ClickHouse sink keeps "
        "its Kafka positions in ClickHouse (one writer; chDB is one process); one sink holds several times 10x the "
        "national programme's peak (docs/scale.md))",
    ]


def test_compose_runs_one_metrics_container_with_sink_and_stream(compose):
    """One machine, one metrics process: the sink and the faust stream on (their defaults), nothing scales it."""
    import copy

    from deploy.policy import check_compose

    metrics = compose["services"]["metrics"]
    assert "scale" not in metrics and "replicas" not in (metrics.get("deploy") or {})
    assert not {"METRICS_RUN_SINK", "METRICS_RUN_STREAM"} & set(metrics["environment"])
    scaled = copy.deepcopy(compose)
    scaled["services"]["metrics"]["scale"] = 3
    assert check_compose(scaled)[-1].startswith("service metrics: 3 containers running METRICS_RUN_SINK")
    # an API-only metrics container (both parts off) could scale: the check is about the parts, not the name
    scaled["services"]["metrics"]["environment"].update({"METRICS_RUN_SINK": "false", "METRICS_RUN_STREAM": "false"})
    assert check_compose(scaled) == []
