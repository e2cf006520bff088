"""Kubernetes manifests: both overlays render (with the real kustomize), pass the strict Kubernetes
schemas, the custom-resource schemas and the policy checks — and each check refuses a broken manifest."""

from __future__ import annotations

import copy
import os
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
# every Deployment -> the service whose image and settings it runs
DEPLOYMENTS = {**{name: name for name in policy.SERVICES}, **{n: s.service for n, s in policy.SINGLETONS.items()},
               **{n: r.service for n, r in policy.STREAM_ROLES.items()}}


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
    for kind in ("Deployment", "Service", "PodDisruptionBudget"):
        assert _count(resources, kind) == len(DEPLOYMENTS), kind
    # none for a singleton
    assert _count(resources, "HorizontalPodAutoscaler") == len(policy.SERVICES) + len(policy.STREAM_ROLES)
    for kind in ("Namespace", "Kafka", "KafkaNodePool", "ClickHouseInstallation", "ClickHouseKeeperInstallation"):
        assert _count(resources, kind) == 1, kind
    for kind in ("PrometheusRule", "ServiceMonitor", "PodMonitor"):  # ours and the operators' (docs/operations.md)
        assert _count(resources, kind) >= 1, kind
    assert _count(resources, "KafkaTopic") == len(CATALOGUE)
    assert _count(resources, "NetworkPolicy") >= 4
    namespace = _one(resources, "Namespace", {"dev": "carecircle-dev", "prod": "carecircle"}[overlay])
    assert all(r["metadata"].get("namespace") == namespace["metadata"]["name"]
               for r in resources if r["kind"] != "Namespace")


def test_overlays_differ_where_they_should(rendered):
    dev, prod = rendered["dev"], rendered["prod"]
    assert {_one(dev, "Deployment", n)["spec"]["replicas"] for n in DEPLOYMENTS} == {1}
    assert _one(prod, "Deployment", "ingest")["spec"]["replicas"] == 3
    assert _one(prod, "HorizontalPodAutoscaler", "ingest")["spec"]["maxReplicas"] == 20
    # the metrics API reads ClickHouse only: not bounded by the partitions, unlike the faust services
    assert _one(prod, "HorizontalPodAutoscaler", "metrics")["spec"]["minReplicas"] == 2
    assert _one(prod, "HorizontalPodAutoscaler", "metrics")["spec"]["maxReplicas"] > MEMBER_PARTITIONS
    image = _one(prod, "Deployment", "survey")["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == "registry.example.org/carecircle/survey:0.1.0"
    assert {t["spec"]["replicas"] for t in dev if t["kind"] == "KafkaTopic"} == {1}
    assert {t["spec"]["replicas"] for t in prod if t["kind"] == "KafkaTopic"} == {3}
    assert _one(dev, "KafkaNodePool", "dual-role")["spec"]["replicas"] == 1
    assert _one(prod, "KafkaNodePool", "dual-role")["spec"]["replicas"] == 3
    # a dev patch of the Kafka config leaves the listeners of the base in place
    assert len(_one(dev, "Kafka", "carecircle")["spec"]["kafka"]["listeners"]) == 1
    assert _one(prod, "ConfigMap", "carecircle-config")["data"]["ENSURE_TOPICS"] == "false"
    # production ships no secret values: they are created from the templates
    assert _count(prod, "Secret") == 0 and _count(dev, "Secret") == 3


def _env(resources: list[dict], name: str) -> dict[str, str]:
    (container,) = _one(resources, "Deployment", name)["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e.get("value") for e in container.get("env", [])}


def _selected(resources: list[dict], selector: dict) -> set[str]:
    """Deployments whose pods a label selector (matchLabels / matchExpressions In) matches."""
    names = set()
    for deployment in (r for r in resources if r["kind"] == "Deployment"):
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        if all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items()) and all(
                labels.get(e["key"]) in e["values"] for e in selector.get("matchExpressions", [])):
            names.add(deployment["metadata"]["name"])
    return names


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_metrics_sink_runs_once_the_stream_and_the_api_scale(rendered, overlay):
    """The sink (the only ClickHouse writer, positions in ClickHouse) runs in ONE process, metrics-worker;
    the faust stream runs in metrics-stream (one stable group, scaled up to the partition count, proven by
    tests/scale); the metrics API Deployment switches both off and scales."""
    resources = rendered[overlay]
    worker, api = _one(resources, "Deployment", "metrics-worker"), _one(resources, "Deployment", "metrics")
    assert worker["spec"]["replicas"] == 1
    assert worker["spec"]["strategy"] == {"type": "Recreate"}
    assert [h for h in resources if h["kind"] == "HorizontalPodAutoscaler"
            and h["spec"]["scaleTargetRef"]["name"] == "metrics-worker"] == []
    assert _one(resources, "HorizontalPodAutoscaler", "metrics")["spec"]["scaleTargetRef"]["name"] == "metrics"
    falsy = {"false", "0", "no", "off", "f", "n"}
    assert _env(resources, "metrics")["METRICS_RUN_SINK"] == _env(resources, "metrics")["METRICS_RUN_STREAM"] == "false"
    worker_env, stream_env = _env(resources, "metrics-worker"), _env(resources, "metrics-stream")
    assert str(worker_env.get("METRICS_RUN_SINK")).lower() not in falsy
    assert worker_env["METRICS_RUN_STREAM"] == stream_env["METRICS_RUN_SINK"] == "false"
    assert stream_env["METRICS_RUN_STREAM"] == "true" and stream_env["METRICS_GROUP_ID"] == "carecircle-metrics"
    assert "CLICKHOUSE_URL" not in stream_env  # the stream never opens ClickHouse
    stream = _one(resources, "Deployment", "metrics-stream")
    hpa = _one(resources, "HorizontalPodAutoscaler", "metrics-stream")["spec"]
    # at most one worker per partition (dev caps every HPA at 2)
    assert hpa["maxReplicas"] == {"dev": 2, "prod": MEMBER_PARTITIONS}[overlay]
    assert stream["spec"]["replicas"] == hpa["minReplicas"] == {"dev": 1, "prod": 2}[overlay]
    # one image, three roles
    image = {d["spec"]["template"]["spec"]["containers"][0]["image"] for d in (worker, api, stream)}
    assert len(image) == 1 and image.pop().split(":")[0].endswith("carecircle/metrics")
    # its budget lets a drain evict the one pod (minAvailable 1 would block every drain)
    pdb = _one(resources, "PodDisruptionBudget", "metrics-worker")["spec"]
    assert "minAvailable" not in pdb and pdb["maxUnavailable"] == 1
    assert _selected(resources, _one(resources, "PodDisruptionBudget", "metrics")["spec"]["selector"]) == {"metrics"}
    # Service metrics (the API traffic) reaches API pods only; the worker's headless Service is for scraping
    assert _selected(resources, {"matchLabels": _one(resources, "Service", "metrics")["spec"]["selector"]}) == {
        "metrics"
    }
    assert _one(resources, "Service", "metrics-worker")["spec"]["clusterIP"] == "None"
    monitored = _one(resources, "ServiceMonitor", "carecircle-services")["spec"]["selector"]["matchExpressions"][0]
    assert {"metrics", "metrics-worker"} <= set(monitored["values"])


def test_network_policies_give_each_metrics_workload_what_it_uses(rendered):
    resources = rendered["prod"]
    policies = {p["metadata"]["name"]: p["spec"] for p in resources if p["kind"] == "NetworkPolicy"}
    from_ingress = _selected(resources, policies["allow-api-from-ingress-controller"]["podSelector"])
    assert "metrics" in from_ingress and "metrics-worker" not in from_ingress
    clickhouse_clients = set().union(*(_selected(resources, peer["podSelector"])
                                       for rule in policies["allow-clickhouse"]["ingress"] for peer in rule["from"]
                                       if set(peer) == {"podSelector"}))
    assert {"metrics", "metrics-worker"} <= clickhouse_clients

    def egress(name: str) -> dict[str, set[int]]:
        """{peer label: ports} of the egress policies selecting Deployment `name` (DNS under "*")."""
        reach: dict[str, set[int]] = {}
        for spec in policies.values():
            if "Egress" in spec["policyTypes"] and name in _selected(resources, spec["podSelector"]):
                for rule in spec["egress"]:
                    peers = [",".join(sorted(p["podSelector"]["matchLabels"])) for p in rule.get("to", [])] or ["*"]
                    for peer in peers:
                        reach.setdefault(peer, set()).update(p["port"] for p in rule["ports"])
        return reach

    kafka, clickhouse = "strimzi.io/cluster,strimzi.io/kind", "clickhouse.altinity.com/chi"
    # Kafka for the audit topic only (KafkaUser metrics-api: docs/security.md, "Audit trail")
    assert egress("metrics") == {"*": {53}, kafka: {9093}, clickhouse: {9000, 8123}}
    assert egress("metrics-worker") == {"*": {53}, kafka: {9093}, clickhouse: {9000, 8123}}
    assert egress("notifier") == {}  # everything else keeps open egress (SMTP relay, push gateway)


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
    # Strimzi's User Operator writes each KafkaUser's password into a Secret named after the user
    generated = {r["metadata"]["name"] for r in rendered["prod"] if r["kind"] == "KafkaUser"}
    refs = {(name, key) for name, key in _secret_refs(rendered["prod"]) if name not in generated}
    assert refs and refs <= _secret_keys(templates)
    assert refs <= _secret_keys(rendered["dev"])
    # the ClickHouse accounts' passwords are read by the ClickHouseInstallation from the same Secret
    users = _one(rendered["prod"], "ClickHouseInstallation", "carecircle")["spec"]["configuration"]["users"]
    passwords = {(v["valueFrom"]["secretKeyRef"]["name"], v["valueFrom"]["secretKeyRef"]["key"])
                 for k, v in users.items() if k.endswith("/password")}
    assert len(passwords) == 3 and passwords <= _secret_keys(templates) and passwords <= _secret_keys(rendered["dev"])


def test_config_map_references_resolve(rendered):
    names = {r["metadata"]["name"] for r in rendered["prod"] if r["kind"] == "ConfigMap"}
    for deployment in (r for r in rendered["prod"] if r["kind"] == "Deployment"):
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            for source in container.get("envFrom", []):
                assert source["configMapRef"]["name"] in names


def test_kubernetes_validate_cli_strict(rendered, tmp_path):
    """The CLI docs/deploy.md documents accepts the rendered built-in resources and refuses an unknown field."""
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
    assert any("example.org/v1/Mystery is served by none of the vendored CRDs" in e for e in policy.check_all(prod))


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
    assert len(errors) == 1 and errors[0].startswith(
        f"HorizontalPodAutoscaler/survey: maxReplicas {MEMBER_PARTITIONS + 1}"
    )
    # ingest and the metrics API are no Kafka consumers: they may scale past the partition count
    _one(prod, "HorizontalPodAutoscaler", "ingest")["spec"]["maxReplicas"] = 50
    _one(prod, "HorizontalPodAutoscaler", "metrics")["spec"]["maxReplicas"] = 30
    assert len(policy.check_all(prod)) == 1


def test_metrics_worker_with_two_replicas_refused(prod):
    _one(prod, "Deployment", "metrics-worker")["spec"]["replicas"] = 2
    errors = policy.check_all(prod)
    assert len(errors) == 1 and errors[0].startswith("Deployment/metrics-worker: replicas 2, must be exactly 1"), errors


def test_overlay_scaling_the_metrics_worker_refused(tmp_path):
    """The same refusal end to end: an overlay on top of prod that patches the worker to 2 replicas."""
    base = os.path.relpath(OVERLAYS / "prod", tmp_path)
    (tmp_path / "kustomization.yaml").write_text(yaml.safe_dump({
        "resources": [base],
        "patches": [{"target": {"kind": "Deployment", "name": "metrics-worker"},
                     "patch": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: any\nspec:\n  replicas: 2\n"}],
    }))
    errors = policy.check_all(render(tmp_path))
    assert any(e.startswith("Deployment/metrics-worker: replicas 2, must be exactly 1") for e in errors), errors


def test_metrics_worker_rolling_update_hpa_or_blocking_budget_refused(prod):
    worker = _one(prod, "Deployment", "metrics-worker")
    worker["spec"]["strategy"] = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    hpa = copy.deepcopy(_one(prod, "HorizontalPodAutoscaler", "metrics"))
    hpa["metadata"]["name"] = hpa["spec"]["scaleTargetRef"]["name"] = "metrics-worker"
    prod.append(hpa)
    pdb = _one(prod, "PodDisruptionBudget", "metrics-worker")["spec"]
    del pdb["maxUnavailable"]
    pdb["minAvailable"] = 1
    errors = policy.check_all(prod)
    assert sorted(errors) == sorted(
        [
            "Deployment/metrics-worker: strategy RollingUpdate, must be Recreate (a rolling update runs two at once)",
            "HorizontalPodAutoscaler/metrics-worker: scales Deployment/metrics-worker, "
            "which must run as exactly one process",
            "PodDisruptionBudget/metrics-worker: forbids evicting the one replica of Deployment/metrics-worker "
            "(blocks every node drain); use maxUnavailable: 1",
        ]
    )


def test_sink_or_stream_switched_on_in_the_api_or_off_in_the_worker_refused(prod):
    api = _container(prod, "metrics")
    api["env"] = [e for e in api["env"] if e["name"] != "METRICS_RUN_STREAM"]  # default: true
    next(e for e in api["env"] if e["name"] == "METRICS_RUN_SINK")["value"] = "true"
    next(e for e in _container(prod, "metrics-worker")["env"] if e["name"] == "METRICS_RUN_SINK")["value"] = "0"
    errors = policy.check_all(prod)
    assert sorted(errors) == [
        "Deployment/metrics-worker: METRICS_RUN_SINK is false, but this is the one process that must run it",
        "Deployment/metrics: must set METRICS_RUN_SINK=false (it runs in metrics-worker only, exactly once)",
        "Deployment/metrics: must set METRICS_RUN_STREAM=false (it runs in metrics-stream)",
    ]


def test_service_sending_api_traffic_to_the_worker_refused(prod):
    # a selector on the part-of label alone would also pick the worker's pods
    _one(prod, "Service", "metrics")["spec"]["selector"] = {"app.kubernetes.io/part-of": "carecircle"}
    errors = policy.check_workloads(prod)
    assert any(e.startswith(f"Service/metrics: selects the pods of {len(DEPLOYMENTS)} Deployments") for e in errors), (
        errors
    )
    prod.remove(_one(prod, "Deployment", "metrics-worker"))
    assert "singleton metrics-worker: no Deployment" in policy.check_workloads(prod)


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
    assert (
        "Deployment/ingest container ingest: image 'carecircle/ingest:latest' must carry an explicit tag (not latest)"
        in errors
    )


# --- the renderer ---------------------------------------------------------------------------------------


def test_renderer_is_the_real_kustomize(tmp_path):
    """Generators work (the home-made renderer refused them): kubectl's kustomize renders, hash suffix included."""
    (tmp_path / "kustomization.yaml").write_text(
        yaml.safe_dump({"resources": [], "configMapGenerator": [{"name": "x", "literals": ["A=1"]}]})
    )
    (generated,) = render(tmp_path)
    assert generated["kind"] == "ConfigMap" and generated["metadata"]["name"].startswith("x-")
    assert generated["data"] == {"A": "1"}


def test_renderer_refuses_a_patch_that_matches_nothing(tmp_path):
    (tmp_path / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  K: v\n")
    (tmp_path / "patch.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\ndata:\n  K: w\n")
    (tmp_path / "kustomization.yaml").write_text("resources:\n  - cm.yaml\npatches:\n  - path: patch.yaml\n")
    with pytest.raises(KustomizeError, match="no matches for Id"):
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
        "namespace: ns1\nresources:\n  - d.yaml\n  - t.yaml\npatches:\n  - path: p.yaml\n"
        "images:\n  - name: x\n    newTag: '2'\n"
    )
    deployment, custom = render(tmp_path)
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert {e["name"]: e["value"] for e in container["env"]} == {"A": "1", "B": "3"}  # merged by name
    assert container["image"] == "x:2"
    assert custom["spec"]["items"] == [9]
    assert deployment["metadata"]["namespace"] == custom["metadata"]["namespace"] == "ns1"


@pytest.mark.parametrize("name", list(DEPLOYMENTS))
def test_every_required_setting_is_provided_by_compose_and_kubernetes(rendered, name):
    """A setting without a default (JWT_SECRET, ...) must be set in both deployments, or the service can't start."""
    service = DEPLOYMENTS[name]
    required = policy.required_settings(service)
    if required is None:  # the service's settings module has not landed yet: nothing to cross-check
        required = set()  # CommonSettings alone: tokens verify with JWT_JWKS_URL/FILE (docs/security.md)
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    compose_env = {k.upper() for k in compose["services"][service]["environment"]}
    assert required <= compose_env, f"docker-compose.yml {service}: missing {sorted(required - compose_env)}"
    for overlay in ("dev", "prod"):
        k8s_env = policy.deployment_env(rendered[overlay], name)
        assert required <= k8s_env, f"{overlay} Deployment/{name}: missing {sorted(required - k8s_env)}"


def test_required_settings_are_read_from_the_settings_classes(prod):
    assert policy.required_settings("ingest") == set()
    assert policy.required_settings("no_such_service") is None
    container = _container(prod, "ingest")
    container["env"] = [e for e in container["env"] if e["name"] != "JWT_SECRET"]
    assert "JWT_SECRET" not in policy.deployment_env(prod, "ingest")


@pytest.mark.parametrize("name", list(policy.SERVICES))
def test_service_variables_set_by_the_deployments_are_read_by_the_service(rendered, name):
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert policy.unknown_service_env(name, compose["services"][name]["environment"]) == []
    for deployment, service in DEPLOYMENTS.items():
        if service == name:
            assert policy.unknown_service_env(name, policy.deployment_env(rendered["prod"], deployment)) == []
    assert policy.unknown_service_env(name, ["INGEST_PORT", "SURVEY_PORT", f"{name.upper()}_PROT"]) == [
        f"{name.upper()}_PROT"
    ]


def test_metrics_stream_running_the_sink_or_past_the_partitions_refused(prod):
    stream = _container(prod, "metrics-stream")
    next(e for e in stream["env"] if e["name"] == "METRICS_RUN_SINK")["value"] = "true"
    stream["env"] = [e for e in stream["env"] if e["name"] != "METRICS_RUN_STREAM"]  # unset: the role needs it on
    _one(prod, "HorizontalPodAutoscaler", "metrics-stream")["spec"]["maxReplicas"] = MEMBER_PARTITIONS + 1
    errors = policy.check_workloads(prod)
    why = policy.STREAM_ROLES["metrics-stream"].why
    assert sorted(errors) == [
        f"Deployment/metrics-stream: must set METRICS_RUN_SINK=false ({why})",
        f"Deployment/metrics-stream: must set METRICS_RUN_STREAM=true ({why})",
        f"HorizontalPodAutoscaler/metrics-stream: maxReplicas {MEMBER_PARTITIONS + 1} > {MEMBER_PARTITIONS} "
        "partitions (contracts.topics.MEMBER_PARTITIONS): extra workers sit idle",
    ]
