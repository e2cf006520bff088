"""The checks CI runs on the deployment manifests (tests/deploy/). Each returns a list of errors.

* `validate_builtin` — built-in kinds against the Kubernetes OpenAPI schemas (kubernetes-validate, strict:
  unknown fields are errors);
* `validate_custom` — custom resources (Strimzi, Altinity, prometheus-operator) against the operators' published
  CRDs vendored by deploy/crds.py;
* `check_workloads` — every service Deployment has readiness+liveness probes, resource requests AND limits,
  a non-root security context, a Service, a PodDisruptionBudget and an HPA; stream processors never scale
  past the partition count; a singleton (`SINGLETONS`: metrics-worker) runs exactly one replica, is replaced
  with `Recreate`, has no HPA and a PDB that does not block its eviction, switches its once-only parts on
  while the service's own (scaled) Deployment switches them off; a stream role (`STREAM_ROLES`:
  metrics-stream) is a service's consumer-group part, scaled by partitions with its settings pinned; no
  Service selects two Deployments' pods;
* `check_topics` — every catalogue topic has exactly one KafkaTopic with the catalogue's settings, every
  KafkaTopic belongs to a Kafka cluster of the manifests and fits on its brokers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import kubernetes_validate

from contracts.topics import CATALOGUE, MEMBER_PARTITIONS, Topic

from . import crds, ops_checks
from .kustomize import is_builtin

KUBERNETES_VERSION = "1.30.0"  # oldest Kubernetes minor still supported by the major clouds; strict schemas

# name -> (port, scales by partitions?) — the four services (docs/architecture.md), each a Deployment of that name
SERVICES: dict[str, tuple[int, bool]] = {
    "ingest": (8001, False),
    "metrics": (8002, False),  # API + dashboard only, reads ClickHouse; sink: metrics-worker, stream: metrics-stream
    "notifier": (8003, True),
    "survey": (8004, True),
}


@dataclass(frozen=True)
class Singleton:
    """A Deployment that must run as exactly ONE process, built from a service's image (same port, settings)."""

    service: str
    flags: tuple[str, ...]  # boolean settings that switch on the once-only parts: never false here, and
    # explicitly false in the service's own Deployment (which scales)
    why: str


SINGLETONS: dict[str, Singleton] = {
    "metrics-worker": Singleton(
        "metrics", ("METRICS_RUN_SINK",),
        "the ClickHouse sink keeps its Kafka positions in ClickHouse (one writer; chDB is one process); one sink "
        "holds several times 10x the national programme's peak (docs/scale.md)",
    ),
}


@dataclass(frozen=True)
class StreamRole:
    """A Deployment running one part of a service as N workers of ONE consumer group, built from the
    service's image (same port): it scales by partitions, and its switches are pinned to `env`."""

    service: str
    env: tuple[tuple[str, bool], ...]  # boolean settings and the value this role must give them
    why: str


STREAM_ROLES: dict[str, StreamRole] = {
    "metrics-stream": StreamRole(
        "metrics", (("METRICS_RUN_SINK", False), ("METRICS_RUN_STREAM", True)),
        "the member-day agents share the partitions of one stable group; the sink runs in metrics-worker only",
    ),
}

# Processes of their own beside the four services: name -> port (probes and /metrics only).
AUXILIARY: dict[str, int] = {"clock": 8005}
SINGLETONS["clock"] = Singleton(
    "clock", (), "one tick writer per period; a second one only writes copies that every consumer drops")

_FALSE = {"0", "off", "f", "false", "n", "no"}  # what pydantic reads as False


def _name(resource: dict) -> str:
    return f"{resource.get('kind')}/{resource.get('metadata', {}).get('name')}"


def validate_builtin(resources: Iterable[dict], version: str = KUBERNETES_VERSION) -> list[str]:
    errors = []
    for resource in resources:
        if not is_builtin(resource.get("apiVersion", "")):
            continue
        try:
            kubernetes_validate.validate(resource, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(str(p) for p in exc.path)
            errors.append(f"{_name(resource)}: {path}: {exc.message}")
        except kubernetes_validate.SchemaNotFoundError as exc:
            errors.append(
                f"{_name(resource)}: no schema for {resource.get('apiVersion')} {resource.get('kind')} ({exc})"
            )
    return errors


def validate_custom(resources: Iterable[dict]) -> list[str]:
    """Custom resources against the operators' published CRDs (vendored in deploy/schemas/crds, strict);
    Gateway API resources against CareCircle's strict schema of the fields it uses (deploy/ops_checks.py)."""
    resources = list(resources)
    custom = [r for r in resources if not is_builtin(r.get("apiVersion", ""))]
    return (crds.validate(r for r in custom if not ops_checks.is_gateway_api(r))
            + ops_checks.validate_gateway_api(r for r in custom if ops_checks.is_gateway_api(r)))


def _by_kind(resources: Iterable[dict], kind: str) -> list[dict]:
    return [r for r in resources if r.get("kind") == kind]


def _selects(selector: dict, labels: dict) -> bool:
    match = selector.get("matchLabels", selector)
    return bool(match) and all(labels.get(k) == v for k, v in match.items())


def _check_container(where: str, container: dict, port: int) -> list[str]:
    errors = []
    for probe in ("readinessProbe", "livenessProbe"):
        spec = container.get(probe)
        if not spec:
            errors.append(f"{where}: no {probe}")
        elif "httpGet" not in spec:
            errors.append(f"{where}: {probe} must be an httpGet on /readyz or /healthz")
    if (container.get("readinessProbe") or {}).get("httpGet", {}).get("path") not in (None, "/readyz"):
        errors.append(f"{where}: readinessProbe must GET /readyz")
    if (container.get("livenessProbe") or {}).get("httpGet", {}).get("path") not in (None, "/healthz"):
        errors.append(f"{where}: livenessProbe must GET /healthz")
    resources = container.get("resources") or {}
    for section in ("requests", "limits"):
        for quantity in ("cpu", "memory"):
            if quantity not in (resources.get(section) or {}):
                errors.append(f"{where}: no resources.{section}.{quantity}")
    security = container.get("securityContext") or {}
    if security.get("allowPrivilegeEscalation") is not False:
        errors.append(f"{where}: securityContext.allowPrivilegeEscalation must be false")
    if security.get("runAsUser") == 0:
        errors.append(f"{where}: runs as root")
    image = container.get("image", "")
    if ":" not in image.rsplit("/", 1)[-1] or image.endswith(":latest"):
        errors.append(f"{where}: image {image!r} must carry an explicit tag (not latest)")
    if port not in [p.get("containerPort") for p in container.get("ports", [])]:
        errors.append(f"{where}: does not expose port {port}")
    return errors


def _env_values(resources: list[dict], container: dict) -> dict[str, str | None]:
    """The container's variables with literal values: loaded ConfigMaps, then its own env (which wins)."""
    maps = {r["metadata"]["name"]: r.get("data", {}) for r in resources if r.get("kind") == "ConfigMap"}
    values: dict[str, str | None] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            values.update(maps.get(source["configMapRef"].get("name"), {}))
    values.update({e["name"]: e.get("value") for e in container.get("env", [])})
    return values


def _is_false(value: object) -> bool:
    return value is not None and str(value).strip().lower() in _FALSE


def _check_singleton(resources: list[dict], name: str, singleton: Singleton, deployments: dict[str, dict],
                     hpas: list[dict]) -> list[str]:
    where = f"Deployment/{name}"
    deployment = deployments[name]
    errors = []
    replicas = deployment["spec"].get("replicas", 1)
    if replicas != 1:
        errors.append(f"{where}: replicas {replicas}, must be exactly 1 ({singleton.why})")
    strategy = (deployment["spec"].get("strategy") or {}).get("type", "RollingUpdate")
    if strategy != "Recreate":
        errors.append(f"{where}: strategy {strategy}, must be Recreate (a rolling update runs two at once)")
    for hpa in hpas:
        errors.append(f"HorizontalPodAutoscaler/{hpa['metadata']['name']}: scales {where}, which must run as "
                      "exactly one process")
    labels = deployment["spec"].get("template", {}).get("metadata", {}).get("labels", {})
    for pdb in _by_kind(resources, "PodDisruptionBudget"):
        spec = pdb.get("spec", {})
        if not _selects(spec.get("selector", {}), labels):
            continue
        keeps_one = str(spec.get("minAvailable", 0)) not in ("0", "0%")
        evicts_none = str(spec.get("maxUnavailable", 1)) in ("0", "0%")
        if keeps_one or evicts_none:
            errors.append(f"PodDisruptionBudget/{pdb['metadata']['name']}: forbids evicting the one replica of "
                          f"{where} (blocks every node drain); use maxUnavailable: 1")
    for container in deployment["spec"].get("template", {}).get("spec", {}).get("containers", []):
        env = _env_values(resources, container)
        for flag in singleton.flags:
            if _is_false(env.get(flag)):
                errors.append(f"{where}: {flag} is false, but this is the one process that must run it")
    scaled = deployments.get(singleton.service)
    for container in (scaled or {}).get("spec", {}).get("template", {}).get("spec", {}).get("containers", []):
        env = _env_values(resources, container)
        for flag in singleton.flags:
            if not _is_false(env.get(flag)):
                errors.append(f"Deployment/{singleton.service}: must set {flag}=false (it runs in {name} only, "
                              f"exactly once)")
    return errors


def _check_role(resources: list[dict], name: str, role: StreamRole, deployments: dict[str, dict]) -> list[str]:
    """The role's switches as pinned; the service's own (API) Deployment switches the role's parts off."""
    errors = []
    for container in deployments[name]["spec"].get("template", {}).get("spec", {}).get("containers", []):
        env = _env_values(resources, container)
        for flag, wanted in role.env:
            value = env.get(flag)
            on = value is not None and not _is_false(value)
            if on != wanted:
                errors.append(f"Deployment/{name}: must set {flag}={str(wanted).lower()} ({role.why})")
    scaled = deployments.get(role.service)
    for container in (scaled or {}).get("spec", {}).get("template", {}).get("spec", {}).get("containers", []):
        env = _env_values(resources, container)
        for flag, wanted in role.env:
            if wanted and not _is_false(env.get(flag)):
                errors.append(f"Deployment/{role.service}: must set {flag}=false (it runs in {name})")
    return errors


def check_workloads(resources: list[dict], services: dict[str, tuple[int, bool]] = SERVICES,
                    singletons: dict[str, Singleton] = SINGLETONS,
                    roles: dict[str, StreamRole] = STREAM_ROLES) -> list[str]:
    errors: list[str] = []
    deployments = {d["metadata"]["name"]: d for d in _by_kind(resources, "Deployment")}
    for name in services:
        if name not in deployments:
            errors.append(f"service {name}: no Deployment")
    for name in singletons:
        if name not in deployments:
            errors.append(f"singleton {name}: no Deployment")
    for name in roles:
        if name not in deployments:
            errors.append(f"stream role {name}: no Deployment")
    for service in _by_kind(resources, "Service"):
        selector = service.get("spec", {}).get("selector") or {}
        selected = sorted(
            n
            for n, d in deployments.items()
            if _selects(selector, d.get("spec", {}).get("template", {}).get("metadata", {}).get("labels", {}))
        )
        if len(selected) > 1:
            errors.append(f"Service/{service['metadata']['name']}: selects the pods of {len(selected)} Deployments "
                          f"({', '.join(selected)})")
    for name, deployment in deployments.items():
        where = f"Deployment/{name}"
        singleton, role = singletons.get(name), roles.get(name)
        service_name = (singleton or role).service if singleton or role else name  # whose image, port, settings
        port, by_partitions = services.get(service_name) or (AUXILIARY.get(service_name), False)
        if role:
            by_partitions = True
            errors += _check_role(resources, name, role, deployments)
        pod = deployment.get("spec", {}).get("template", {})
        pod_labels = pod.get("metadata", {}).get("labels", {})
        pod_spec = pod.get("spec", {})
        pod_security = pod_spec.get("securityContext") or {}
        if pod_security.get("runAsNonRoot") is not True:
            errors.append(f"{where}: pod securityContext.runAsNonRoot must be true")
        if pod_security.get("runAsUser") == 0:
            errors.append(f"{where}: pod runs as root")
        containers = pod_spec.get("containers", [])
        if not containers:
            errors.append(f"{where}: no containers")
        for container in containers:
            errors += _check_container(f"{where} container {container.get('name')}", container, port)
            if port is not None:
                env = {e["name"]: e.get("value") for e in container.get("env", [])}
                prefix = service_name.upper()
                if env.get(f"{prefix}_PORT") != str(port):
                    errors.append(f"{where}: env {prefix}_PORT must be {port}")
                if env.get(f"{prefix}_HOST") != "0.0.0.0":
                    errors.append(f"{where}: env {prefix}_HOST must be 0.0.0.0 (reachable from outside the pod)")
        if not any(_selects(s.get("spec", {}).get("selector", {}), pod_labels) for s in _by_kind(resources, "Service")):
            errors.append(f"{where}: no Service selects its pods")
        if not any(_selects(p.get("spec", {}).get("selector", {}), pod_labels)
                   for p in _by_kind(resources, "PodDisruptionBudget")):
            errors.append(f"{where}: no PodDisruptionBudget")
        hpas = [h for h in _by_kind(resources, "HorizontalPodAutoscaler")
                if h["spec"].get("scaleTargetRef", {}).get("kind") == "Deployment"
                and h["spec"]["scaleTargetRef"].get("name") == name]
        if singleton:
            errors += _check_singleton(resources, name, singleton, deployments, hpas)
            continue
        if not hpas:
            errors.append(f"{where}: no HorizontalPodAutoscaler")
        for hpa in hpas:
            maximum = hpa["spec"].get("maxReplicas", 0)
            if by_partitions and maximum > MEMBER_PARTITIONS:
                errors.append(
                    f"HorizontalPodAutoscaler/{hpa['metadata']['name']}: maxReplicas {maximum} > "
                    f"{MEMBER_PARTITIONS} partitions (contracts.topics.MEMBER_PARTITIONS): extra workers sit idle"
                )
            if hpa["spec"].get("minReplicas", 1) > maximum:
                errors.append(f"HorizontalPodAutoscaler/{hpa['metadata']['name']}: minReplicas > maxReplicas")
        if by_partitions and deployment["spec"].get("replicas", 1) > MEMBER_PARTITIONS:
            errors.append(f"{where}: replicas > {MEMBER_PARTITIONS} partitions")
    return errors


def check_topics(resources: list[dict], catalogue: Iterable[Topic] = CATALOGUE) -> list[str]:
    errors: list[str] = []
    topics = _by_kind(resources, "KafkaTopic")
    by_name: dict[str, list[dict]] = {}
    for resource in topics:
        by_name.setdefault(resource.get("spec", {}).get("topicName") or resource["metadata"]["name"], []).append(
            resource
        )
    catalogue = list(catalogue)
    for topic in catalogue:
        found = by_name.get(topic.name, [])
        if not found:
            errors.append(
                f"topic {topic.name}: in contracts/topics.py but no KafkaTopic (run python -m deploy.generate)"
            )
            continue
        if len(found) > 1:
            errors.append(f"topic {topic.name}: {len(found)} KafkaTopics")
        spec = found[0].get("spec", {})
        if spec.get("partitions") != topic.partitions:
            errors.append(
                f"topic {topic.name}: KafkaTopic has {spec.get('partitions')} partitions, catalogue {topic.partitions}"
            )
        config = {k: str(v) for k, v in (spec.get("config") or {}).items()}
        for key, value in topic.kafka_configs().items():
            if config.get(key) != value:
                errors.append(f"topic {topic.name}: KafkaTopic config {key}={config.get(key)}, catalogue {value}")
    known = {t.name for t in catalogue}
    for name in by_name:
        if name not in known:
            errors.append(f"KafkaTopic {name}: not in contracts/topics.py (stale resource?)")

    clusters = {k["metadata"]["name"] for k in _by_kind(resources, "Kafka")}
    brokers: dict[str, int] = {}
    for pool in _by_kind(resources, "KafkaNodePool"):
        if "broker" in pool.get("spec", {}).get("roles", []):
            cluster = pool["metadata"].get("labels", {}).get("strimzi.io/cluster")
            brokers[cluster] = brokers.get(cluster, 0) + pool["spec"].get("replicas", 0)
    for resource in topics:
        where = f"KafkaTopic/{resource['metadata']['name']}"
        cluster = resource["metadata"].get("labels", {}).get("strimzi.io/cluster")
        if cluster not in clusters:
            errors.append(f"{where}: label strimzi.io/cluster={cluster!r} names no Kafka resource")
            continue
        replicas = resource.get("spec", {}).get("replicas", 0)
        if replicas > brokers.get(cluster, 0):
            errors.append(f"{where}: {replicas} replicas but Kafka {cluster} has {brokers.get(cluster, 0)} brokers")
        min_isr = int((resource.get("spec", {}).get("config") or {}).get("min.insync.replicas", 1))
        if min_isr > replicas:
            errors.append(f"{where}: min.insync.replicas {min_isr} > replicas {replicas}: every acks=all write fails")
    return errors


def check_all(resources: list[dict]) -> list[str]:
    return (validate_builtin(resources) + validate_custom(resources) + check_workloads(resources)
            + check_topics(resources) + ops_checks.check_operations(resources))


DOCKERFILE = Path(__file__).resolve().parent / "docker" / "Dockerfile"


def check_dockerfile(text: str, services: dict[str, tuple[int, bool]] = SERVICES) -> list[str]:
    """The one service image (deploy/docker/Dockerfile, SERVICE build argument): slim Python 3.11 base pinned
    to a patch release, hashed per-service lock, non-root user, health check, every service on 0.0.0.0."""
    lines: list[str] = []
    for raw in text.replace("\\\n", " ").splitlines():  # join continuation lines
        stripped = raw.strip()
        if stripped and not stripped.startswith("#"):
            lines.append(stripped)
    instructions = [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "") for line in lines]
    errors = []
    args = dict(arg.partition("=")[::2] for op, arg in instructions if op == "ARG")
    bases = [arg.split()[0] for op, arg in instructions if op == "FROM"]
    if not bases:
        errors.append("no FROM")
    for base in bases:
        image = args.get(base.strip("${}"), base) if base.startswith("$") else base
        if not re.fullmatch(r"python:3\.11\.\d+-slim(-\w+)?(@sha256:[0-9a-f]{64})?", image or ""):
            errors.append(f"base image {image or base} is not python:3.11.<patch>-slim* (pinned by tag)")
    if "SERVICE" not in args:
        errors.append("no ARG SERVICE: the image must be built per service with --build-arg SERVICE=<name>")
    runs = " ".join(arg for op, arg in instructions if op == "RUN")
    if "--require-hashes" not in runs or "requirements/${SERVICE}.txt" not in runs:
        errors.append("dependencies are not installed with --require-hashes from requirements/${SERVICE}.txt")
    final_stage = instructions[max(i for i, (op, _) in enumerate(instructions) if op == "FROM"):] if bases else []
    users = [arg.split(":")[0] for op, arg in final_stage if op == "USER"]
    if not users:
        errors.append("no USER: the container would run as root")
    elif users[-1] in ("root", "0"):
        errors.append("the last USER is root")
    if not any(op == "HEALTHCHECK" and "/healthz" in arg for op, arg in final_stage):
        errors.append("no HEALTHCHECK on /healthz")
    exposed = {word for op, arg in final_stage if op == "EXPOSE" for word in arg.split()}
    env = " ".join(arg for op, arg in final_stage if op == "ENV")
    for name, (port, _) in services.items():
        if str(port) not in exposed:
            errors.append(f"does not EXPOSE {port}")
        if f"{name.upper()}_HOST=0.0.0.0" not in env:
            errors.append(f"ENV {name.upper()}_HOST=0.0.0.0 missing: the service would listen on loopback only")
        if f"{name.upper()}_PORT={port}" not in env:
            errors.append(f"ENV {name.upper()}_PORT={port} missing")
    commands = [arg for op, arg in final_stage if op == "CMD"]
    if not commands or "services.${SERVICE}" not in commands[-1]:
        errors.append("CMD must run python -m services.${SERVICE}")
    return errors


def required_settings(name: str) -> set[str] | None:
    """Environment variables a service cannot start without (settings fields without a default), read from
    its pydantic-settings classes; None while `services/<name>/settings.py` does not exist yet."""
    import importlib
    import inspect

    from services.common.settings import CommonSettings

    try:
        module = importlib.import_module(f"services.{name}.settings")
    except ModuleNotFoundError as exc:
        if exc.name in (f"services.{name}", f"services.{name}.settings"):
            return None
        raise
    required: set[str] = set()
    for _, cls in inspect.getmembers(module, inspect.isclass):
        if issubclass(cls, CommonSettings):
            for field_name, field in cls.model_fields.items():
                if field.is_required():
                    alias = field.validation_alias
                    if not isinstance(alias, str):  # AliasChoices: the first choice is the documented name
                        alias = next((c for c in getattr(alias, "choices", ()) if isinstance(c, str)), None)
                    required.add((alias or field.alias or field_name).upper())
    return required


def deployment_env(resources: list[dict], name: str) -> set[str]:
    """Variables the Deployment `name` sets: its env plus every key of the ConfigMaps/Secrets it loads whole."""
    maps = {(r["kind"], r["metadata"]["name"]): r for r in resources if r["kind"] in ("ConfigMap", "Secret")}
    names: set[str] = set()
    deployment = next(r for r in resources if r["kind"] == "Deployment" and r["metadata"]["name"] == name)
    for container in deployment["spec"]["template"]["spec"]["containers"]:
        names |= {e["name"].upper() for e in container.get("env", [])}
        for source in container.get("envFrom", []):
            for kind, key in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
                if key in source:
                    ref = maps.get((kind, source[key]["name"]), {})
                    names |= {k.upper() for k in {**ref.get("data", {}), **ref.get("stringData", {})}}
    return names


def known_settings(name: str) -> set[str] | None:
    """Every environment variable the service's settings classes read (None: no settings module yet)."""
    import importlib
    import inspect

    from services.common.settings import CommonSettings

    try:
        module = importlib.import_module(f"services.{name}.settings")
    except ModuleNotFoundError as exc:
        if exc.name in (f"services.{name}", f"services.{name}.settings"):
            return None
        raise
    from pydantic import AliasChoices

    names: set[str] = set()
    for _, cls in inspect.getmembers(module, inspect.isclass):
        if issubclass(cls, CommonSettings):
            for field_name, field in cls.model_fields.items():
                alias = field.validation_alias
                if isinstance(alias, AliasChoices):
                    names |= {choice.upper() for choice in alias.choices if isinstance(choice, str)}
                else:
                    names.add((alias if isinstance(alias, str) else field.alias or field_name).upper())
    return names


def unknown_service_env(name: str, provided: Iterable[str]) -> list[str]:
    """`<NAME>_*` variables a deployment sets that the service's settings never read (a typo, a stale name)."""
    known = known_settings(name)
    if known is None:
        return []
    prefix = f"{name.upper()}_"
    return sorted(v for v in provided if v.upper().startswith(prefix) and v.upper() not in known)


def check_compose(compose: dict) -> list[str]:
    """What `docker compose config` refuses beyond the JSON schema: references to undefined services or
    named volumes, two services publishing the same host port, a build without its Dockerfile; and more
    than one container of a service that runs a singleton's parts (the compose metrics runs sink + stream)."""
    errors = []
    services = compose.get("services", {})
    volumes = set((compose.get("volumes") or {}))
    host_ports: dict[str, str] = {}
    for name, service in services.items():
        depends = service.get("depends_on", [])
        for target in depends if isinstance(depends, list) else depends.keys():
            if target not in services:
                errors.append(f"service {name}: depends_on undefined service {target}")
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0] if isinstance(volume, str) else volume.get("source", "")
            if source and not source.startswith((".", "/", "~", "$")) and source not in volumes:
                errors.append(f"service {name}: volume {source} is not declared under top-level volumes")
        for port in service.get("ports", []):
            published = str(port).rsplit(":", 1)[0] if ":" in str(port) else None
            if published:
                if published in host_ports:
                    errors.append(f"services {host_ports[published]} and {name} both publish host port {published}")
                host_ports[published] = name
        if "build" in service and "image" not in service:
            errors.append(f"service {name}: build without an image name (make up tags images carecircle/<name>:dev)")
        if name in SERVICES and isinstance(service.get("build"), dict):
            build = service["build"]
            if (
                build.get("dockerfile") != "deploy/docker/Dockerfile"
                or (build.get("args") or {}).get("SERVICE") != name
            ):
                errors.append(f"service {name}: build must use deploy/docker/Dockerfile with args SERVICE: {name}")
    for singleton in SINGLETONS.values():
        service = services.get(singleton.service)
        if service is None:
            continue
        env = service.get("environment") or {}
        if isinstance(env, list):
            env = dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
        running = [flag for flag in singleton.flags if not _is_false(env.get(flag))]
        copies = max(int(service.get("scale", 1)), int((service.get("deploy") or {}).get("replicas", 1)))
        if running and copies != 1:
            errors.append(f"service {singleton.service}: {copies} containers running {', '.join(running)}: "
                          f"must be exactly one ({singleton.why})")
    return errors
