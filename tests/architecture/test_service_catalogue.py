"""Every place that names the services agrees with the one catalogue (services/catalogue.py): the
service packages, the Procfile, docker-compose.yml, the Kubernetes manifests, each service's
settings default and the README's folder table."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest
import yaml

from services.catalogue import BY_NAME, SERVICES

ROOT = Path(__file__).resolve().parents[2]
NOT_SERVICES = {"common"}  # shared code, not a process


def service_packages() -> set[str]:
    return {p.parent.name for p in (ROOT / "services").glob("*/__init__.py")} - NOT_SERVICES


def procfile_services() -> dict[str, str]:
    """Procfile process name → the `services.<package>` module it runs (broker, demo etc. left out)."""
    found = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        match = re.match(r"^([\w-]+):.*\bpython -m (services\.\w+)(\s|$)", line)
        if match and match.group(2).split(".")[1] not in NOT_SERVICES:
            found[match.group(1)] = match.group(2)
    return found


def k8s_documents() -> list[dict]:
    """The base's resources (kustomization `resources`, not its patches: a patch names a Deployment too)."""
    base = ROOT / "deploy" / "k8s" / "base"
    resources = yaml.safe_load((base / "kustomization.yaml").read_text())["resources"]
    files = [base / name for name in resources if (base / name).is_file()]  # a directory: another kustomization
    return [doc for path in files for doc in yaml.safe_load_all(path.read_text()) if isinstance(doc, dict)]


def test_every_service_package_is_catalogued():
    assert service_packages() == set(BY_NAME)


def test_the_procfile_runs_each_service_by_its_name():
    assert procfile_services() == {s.name: s.module for s in SERVICES}


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.name)
def test_compose_publishes_the_catalogued_port(service):
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    assert service.name in compose
    entry = compose[service.name]
    assert f"{service.port}:{service.port}" in [str(p) for p in entry.get("ports", [])]
    assert str(entry["environment"][service.port_variable]) == str(service.port)


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.name)
def test_kubernetes_runs_the_service_on_the_catalogued_port(service):
    docs = k8s_documents()
    # A Deployment may be split over files (patches add env to it): its ports are those of all parts.
    deployments = [d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == service.name]
    services = [d for d in docs if d["kind"] == "Service" and d["metadata"]["name"] == service.name]
    assert deployments and len(services) == 1
    containers = [c for d in deployments for c in d["spec"]["template"]["spec"]["containers"]]
    assert service.port in [p.get("containerPort") for c in containers for p in c.get("ports", [])]
    assert service.port in [p["port"] for p in services[0]["spec"]["ports"]]


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.name)
def test_the_settings_default_to_the_catalogued_port(service):
    settings = importlib.import_module(f"{service.module}.settings")
    fields = [cls.model_fields["port"] for cls in vars(settings).values()
              if isinstance(cls, type) and cls.__module__ == settings.__name__ and "port" in getattr(cls, "model_fields", {})]
    assert len(fields) == 1
    assert fields[0].default == service.port
    assert fields[0].validation_alias == service.port_variable


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.name)
def test_the_readme_folder_table_names_the_service_and_port(service):
    rows = [line for line in (ROOT / "README.md").read_text().splitlines() if line.startswith("|")]
    assert any(f"services/{service.name}/" in row and f":{service.port}" in row for row in rows)
