"""Kubernetes manifests: both overlays render (without a kustomize binary), pass the strict Kubernetes
schemas, the custom-resource schemas and the policy checks — and each check refuses a broken manifest."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from contracts.topics import CATALOGUE, MEMBER_PARTITIONS
from deploy import policy
from deploy.kustomize import KustomizeError, render
from deploy.yamlio import dump_all, load_all

ROOT = Path(__file__).resolve().parents[2]
OVERLAYS = ROOT / "deploy" / "k8s" / "overlays"
SECRET_TEMPLATES = sorted((ROOT / "deploy" / "k8s" / "secrets").glob("*.template.yaml"))


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[dict]]:
    return {name: render(OVERLAYS / name) for name in ("dev", "prod")}


def _one(resources: list[dict], kind: str, name: str) -> dict:
    (found,) = [r for r in resources if r["kind"] == kind and r["metadata"]["name"] == name]
    return found


def _count(resources: list[dict], kind: str) -> int:
    return sum(r["kind"] == kind for r in resources)


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_overlay_passes_every_check(rendered, overlay):
    assert policy.check_all(rendered[overlay]) == []


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_overlay_is_valid_on_the_newest_kubernetes_too(rendered, overlay):
    """No API version that the newest bundled Kubernetes schemas (1.37) removed."""
    assert policy.validate_builtin(rendered[overlay], "1.37.0") == []


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_overlay_holds_the_whole_platform(rendered, overlay):
    resources = rendered[overlay]
    for kind in ("Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"):
        assert _count(resources, kind) == len(policy.SERVICES), kind
    for kind in ("Namespace", "Kafka", "KafkaNodePool", "ClickHouseInstallation", "ClickHouseKeeperInstallation",
                 "PrometheusRule", "ServiceMonitor", "PodMonitor"):
        assert _count(resources, kind) == 1, kind
    assert _count(resources, "KafkaTopic") == len(CATALOGUE)
    assert _count(resources, "NetworkPolicy") >= 4
    namespace = _one(resources, "Namespace", {"dev": "carecircle-dev", "prod": "carecircle"}[overlay])
    assert all(r["metadata"].get("namespace") == namespace["metadata"]["name"]
               for r in resources if r["kind"] != "Namespace")


def test_overlays_differ_where_they_should(rendered):
    dev, prod = rendered["dev"], rendered["prod"]
    assert {_one(dev, "Deployment", n)["spec"]["replicas"] for n in policy.SERVICES} == {1}
    assert _one(prod, "Deployment", "ingest")["spec"]["replicas"] == 3
    assert _one(prod, "HorizontalPodAutoscaler", "ingest")["spec"]["maxReplicas"] == 20
    assert _one(prod, "HorizontalPodAutoscaler", "metrics")["spec"]["maxReplicas"] == MEMBER_PARTITIONS
    image = _one(prod, "Deployment", "survey")["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == "registry.example.org/carecircle/survey:0.1.0"
    assert {t["spec"]["replicas"] for t in dev if t["kind"] == "KafkaTopic"} == {1}
    assert {t["spec"]["replicas"] for t in prod if t["kind"] == "KafkaTopic"} == {3}
    assert _one(dev, "KafkaNodePool", "dual-role")["spec"]["replicas"] == 1
    assert _one(prod, "KafkaNodePool", "dual-role")["spec"]["replicas"] == 3
    # a dev patch of the Kafka config leaves the listeners of the base in place
    assert len(_one(dev, "Kafka", "carecircle")["spec"]["kafka"]["listeners"]) == 2
    assert _one(prod, "ConfigMap", "carecircle-config")["data"]["ENSURE_TOPICS"] == "false"
    # production ships no secret values: they are created from the templates
    assert _count(prod, "Secret") == 0 and _count(dev, "Secret") == 3


def _secret_refs(resources: list[dict]) -> set[tuple[str, str]]:
    refs = set()
    for deployment in (r for r in resources if r["kind"] == "Deployment"):
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            for env in container.get("env", []):
                if ref := env.get("valueFrom", {}).get("secretKeyRef"):
                    refs.add((ref["name"], ref["key"]))
    return refs


def _secret_keys(resources: list[dict]) -> set[tuple[str, str]]:
    return {(s["metadata"]["name"], key) for s in resources if s["kind"] == "Secret" for key in s["stringData"]}


def test_secret_templates_cover_every_reference_and_are_valid(rendered):
    templates = [doc for path in SECRET_TEMPLATES for doc in load_all(path)]
    assert policy.validate_builtin(templates) == []
    refs = _secret_refs(rendered["prod"])
    assert refs and refs <= _secret_keys(templates)
    assert refs <= _secret_keys(rendered["dev"])
    # the ClickHouse user's password is read by the ClickHouseInstallation from the same Secret
    users = _one(rendered["prod"], "ClickHouseInstallation", "carecircle")["spec"]["configuration"]["users"]
    assert tuple(users["carecircle/k8s_secret_password"].split("/")) in _secret_keys(templates)


def test_config_map_references_resolve(rendered):
    names = {r["metadata"]["name"] for r in rendered["prod"] if r["kind"] == "ConfigMap"}
    for deployment in (r for r in rendered["prod"] if r["kind"] == "Deployment"):
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            for source in container.get("envFrom", []):
                assert source["configMapRef"]["name"] in names


def test_kubernetes_validate_cli_strict(rendered, tmp_path):
    """The CLI the README documents accepts the rendered built-in resources and refuses an unknown field."""
    cli = Path(sys.executable).parent / "kubernetes-validate"
    builtin = [r for r in rendered["prod"] if "." not in r["apiVersion"].rpartition("/")[0]]
    good = tmp_path / "good.yaml"
    good.write_text(dump_all(builtin))
    run = subprocess.run([cli, "--strict", "--quiet", "-k", policy.KUBERNETES_VERSION, good],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    broken = copy.deepcopy(_one(rendered["prod"], "Deployment", "ingest"))
    broken["spec"]["template"]["spec"]["containers"][0]["readinessprobe"] = {"httpGet": {"path": "/readyz"}}
    bad = tmp_path / "bad.yaml"
    bad.write_text(dump_all([broken]))
    run = subprocess.run([cli, "--strict", "--quiet", "-k", policy.KUBERNETES_VERSION, bad],
                         capture_output=True, text=True)
    assert run.returncode != 0 and "readinessprobe" in run.stdout + run.stderr


# --- every check refuses a deliberately broken manifest --------------------------------------------------


@pytest.fixture
def prod(rendered) -> list[dict]:
    return copy.deepcopy(rendered["prod"])


def _container(resources: list[dict], name: str) -> dict:
    return _one(resources, "Deployment", name)["spec"]["template"]["spec"]["containers"][0]


def test_unknown_field_in_builtin_kind_refused(prod):
    _one(prod, "Deployment", "metrics")["spec"]["replica"] = 3
    errors = policy.check_all(prod)
    assert any("Deployment/metrics" in e and "replica" in e for e in errors), errors


def test_wrong_type_in_builtin_kind_refused(prod):
    _one(prod, "Service", "ingest")["spec"]["ports"][0]["port"] = "eight-thousand-one"
    errors = policy.validate_builtin(prod)
    assert any(e.startswith("Service/ingest: spec.ports.0.port") for e in errors), errors


def test_typo_in_custom_resource_refused(prod):
    topic = next(r for r in prod if r["kind"] == "KafkaTopic")
    topic["spec"]["partition"] = topic["spec"].pop("partitions")
    chi = _one(prod, "ClickHouseInstallation", "carecircle")
    chi["spec"]["configuration"]["clusters"][0]["layout"]["replicasCount"] = "2"
    errors = policy.validate_custom(prod)
    assert any("KafkaTopic" in e and "'partition' was unexpected" in e for e in errors), errors
    assert any("ClickHouseInstallation/carecircle" in e and "replicasCount" in e for e in errors), errors


def test_unknown_custom_resource_refused(prod):
    prod.append({"apiVersion": "example.org/v1", "kind": "Mystery", "metadata": {"name": "x"}, "spec": {}})
    assert any("no schema for custom resource example.org/v1/Mystery" in e for e in policy.check_all(prod))


def test_catalogue_topic_without_kafka_topic_refused(prod):
    prod.remove(next(r for r in prod if r["kind"] == "KafkaTopic" and r["spec"]["topicName"] == "alerts"))
    errors = policy.check_all(prod)
    assert errors == ["topic alerts: in contracts/topics.py but no KafkaTopic (run python -m deploy.generate)"]


def test_kafka_topic_settings_differing_from_catalogue_refused(prod):
    daily = next(r for r in prod if r["kind"] == "KafkaTopic" and r["spec"]["topicName"] == "engagement.daily")
    daily["spec"]["partitions"] = 12
    daily["spec"]["config"]["cleanup.policy"] = "delete"
    ticks = next(r for r in prod if r["kind"] == "KafkaTopic" and r["spec"]["topicName"] == "clock.ticks")
    del ticks["spec"]["config"]["retention.ms"]
    errors = policy.check_topics(prod)
    assert "topic engagement.daily: KafkaTopic has 12 partitions, catalogue 6" in errors
    assert "topic engagement.daily: KafkaTopic config cleanup.policy=delete, catalogue compact" in errors
    assert "topic clock.ticks: KafkaTopic config retention.ms=None, catalogue 604800000" in errors


def test_kafka_topic_outside_catalogue_or_cluster_refused(prod):
    stray = copy.deepcopy(next(r for r in prod if r["kind"] == "KafkaTopic"))
    stray["metadata"]["name"] = stray["spec"]["topicName"] = "legacy.events"
    stray["metadata"]["labels"]["strimzi.io/cluster"] = "other"
    assert policy.check_topics(prod) == []
    prod.append(stray)
    errors = policy.check_topics(prod)
    assert "KafkaTopic legacy.events: not in contracts/topics.py (stale resource?)" in errors
    assert "KafkaTopic/legacy.events: label strimzi.io/cluster='other' names no Kafka resource" in errors


def test_topic_replicas_beyond_brokers_refused(rendered):
    dev = copy.deepcopy(rendered["dev"])
    topic = next(r for r in dev if r["kind"] == "KafkaTopic")
    topic["spec"]["replicas"] = 3
    topic["spec"]["config"]["min.insync.replicas"] = 4
    errors = policy.check_topics(dev)
    assert any("3 replicas but Kafka carecircle has 1 brokers" in e for e in errors), errors
    assert any("min.insync.replicas 4 > replicas 3" in e for e in errors), errors


@pytest.mark.parametrize("probe", ["readinessProbe", "livenessProbe"])
def test_deployment_without_probe_refused(prod, probe):
    del _container(prod, "notifier")[probe]
    errors = policy.check_all(prod)
    assert errors == [f"Deployment/notifier container notifier: no {probe}"]


def test_probe_on_wrong_path_refused(prod):
    _container(prod, "ingest")["readinessProbe"] = {"tcpSocket": {"port": 8001}}
    _container(prod, "survey")["livenessProbe"]["httpGet"]["path"] = "/readyz"
    errors = policy.check_workloads(prod)
    assert "Deployment/ingest container ingest: readinessProbe must be an httpGet on /readyz or /healthz" in errors
    assert "Deployment/survey container survey: livenessProbe must GET /healthz" in errors


@pytest.mark.parametrize("section", ["limits", "requests"])
def test_deployment_without_resources_refused(prod, section):
    del _container(prod, "metrics")["resources"][section]
    errors = policy.check_all(prod)
    assert f"Deployment/metrics container metrics: no resources.{section}.cpu" in errors
    assert f"Deployment/metrics container metrics: no resources.{section}.memory" in errors


def test_memory_limit_alone_missing_refused(prod):
    del _container(prod, "survey")["resources"]["limits"]["memory"]
    assert policy.check_all(prod) == ["Deployment/survey container survey: no resources.limits.memory"]


def test_root_or_privileged_pod_refused(prod):
    pod = _one(prod, "Deployment", "ingest")["spec"]["template"]["spec"]
    del pod["securityContext"]["runAsNonRoot"]
    pod["containers"][0]["securityContext"]["allowPrivilegeEscalation"] = True
    errors = policy.check_workloads(prod)
    assert "Deployment/ingest: pod securityContext.runAsNonRoot must be true" in errors
    assert "Deployment/ingest container ingest: securityContext.allowPrivilegeEscalation must be false" in errors


def test_stream_processor_scaled_past_partitions_refused(prod):
    _one(prod, "HorizontalPodAutoscaler", "survey")["spec"]["maxReplicas"] = MEMBER_PARTITIONS + 1
    errors = policy.check_all(prod)
    assert len(errors) == 1 and errors[0].startswith(f"HorizontalPodAutoscaler/survey: maxReplicas {MEMBER_PARTITIONS + 1}")
    # ingest is stateless: it may scale past the partition count
    _one(prod, "HorizontalPodAutoscaler", "ingest")["spec"]["maxReplicas"] = 50
    assert len(policy.check_all(prod)) == 1


def test_service_missing_its_deployment_hpa_or_pdb_refused(prod):
    prod.remove(_one(prod, "Deployment", "notifier"))
    prod.remove(_one(prod, "HorizontalPodAutoscaler", "survey"))
    prod.remove(_one(prod, "PodDisruptionBudget", "metrics"))
    errors = policy.check_workloads(prod)
    assert "service notifier: no Deployment" in errors
    assert "Deployment/survey: no HorizontalPodAutoscaler" in errors
    assert "Deployment/metrics: no PodDisruptionBudget" in errors


def test_loopback_host_latest_image_refused(prod):
    container = _container(prod, "ingest")
    next(e for e in container["env"] if e["name"] == "INGEST_HOST")["value"] = "127.0.0.1"
    container["image"] = "carecircle/ingest:latest"
    errors = policy.check_workloads(prod)
    assert "Deployment/ingest: env INGEST_HOST must be 0.0.0.0 (reachable from outside the pod)" in errors
    assert "Deployment/ingest container ingest: image 'carecircle/ingest:latest' must carry an explicit tag (not latest)" in errors


# --- the renderer ---------------------------------------------------------------------------------------


def test_renderer_refuses_what_it_does_not_implement(tmp_path):
    (tmp_path / "kustomization.yaml").write_text(
        yaml.safe_dump({"resources": [], "configMapGenerator": [{"name": "x", "literals": ["A=1"]}]})
    )
    with pytest.raises(KustomizeError, match="configMapGenerator"):
        render(tmp_path)


def test_renderer_refuses_a_patch_that_matches_nothing(tmp_path):
    (tmp_path / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  K: v\n")
    (tmp_path / "patch.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\ndata:\n  K: w\n")
    (tmp_path / "kustomization.yaml").write_text("resources:\n  - cm.yaml\npatches:\n  - path: patch.yaml\n")
    with pytest.raises(KustomizeError, match="matches no resource"):
        render(tmp_path)


def test_strategic_merge_of_builtin_lists_by_name_and_custom_lists_whole(tmp_path):
    (tmp_path / "d.yaml").write_text(yaml.safe_dump({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
        "spec": {"template": {"spec": {"containers": [
            {"name": "a", "image": "x:1", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]}]}}},
    }))
    (tmp_path / "t.yaml").write_text(yaml.safe_dump({
        "apiVersion": "example.org/v1", "kind": "T", "metadata": {"name": "t"}, "spec": {"items": [1, 2, 3]}}))
    (tmp_path / "p.yaml").write_text(yaml.safe_dump_all([
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
         "spec": {"template": {"spec": {"containers": [{"name": "a", "env": [{"name": "B", "value": "3"}]}]}}}},
        {"apiVersion": "example.org/v1", "kind": "T", "metadata": {"name": "t"}, "spec": {"items": [9]}},
    ]))
    (tmp_path / "kustomization.yaml").write_text(
        "namespace: n\nresources:\n  - d.yaml\n  - t.yaml\npatches:\n  - path: p.yaml\n"
        "images:\n  - name: x\n    newTag: '2'\n"
    )
    deployment, custom = render(tmp_path)
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["env"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "3"}]
    assert container["image"] == "x:2"
    assert custom["spec"]["items"] == [9]
    assert deployment["metadata"]["namespace"] == custom["metadata"]["namespace"] == "n"


@pytest.mark.parametrize("name", list(policy.SERVICES))
def test_every_required_setting_is_provided_by_compose_and_kubernetes(rendered, name):
    """A setting without a default (JWT_SECRET, ...) must be set in both deployments, or the service can't start."""
    required = policy.required_settings(name)
    if required is None:  # the service's settings module has not landed yet: nothing to cross-check
        required = {"JWT_SECRET"}  # CommonSettings alone
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    compose_env = {k.upper() for k in compose["services"][name]["environment"]}
    assert required <= compose_env, f"docker-compose.yml {name}: missing {sorted(required - compose_env)}"
    for overlay in ("dev", "prod"):
        k8s_env = policy.deployment_env(rendered[overlay], name)
        assert required <= k8s_env, f"{overlay} Deployment/{name}: missing {sorted(required - k8s_env)}"


def test_required_settings_are_read_from_the_settings_classes(prod):
    assert policy.required_settings("ingest") == {"JWT_SECRET"}
    assert policy.required_settings("no_such_service") is None
    container = _container(prod, "ingest")
    container["env"] = [e for e in container["env"] if e["name"] != "JWT_SECRET"]
    assert "JWT_SECRET" not in policy.deployment_env(prod, "ingest")


@pytest.mark.parametrize("name", list(policy.SERVICES))
def test_service_variables_set_by_the_deployments_are_read_by_the_service(rendered, name):
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert policy.unknown_service_env(name, compose["services"][name]["environment"]) == []
    assert policy.unknown_service_env(name, policy.deployment_env(rendered["prod"], name)) == []
    assert policy.unknown_service_env(name, ["INGEST_PORT", "SURVEY_PORT", f"{name.upper()}_PROT"]) == [f"{name.upper()}_PROT"]
