"""The operators' published CRDs are vendored unchanged (pinned repository, tag, commit, sha256), and the
rendered overlays validate against them strictly: a current operator accepts what we deploy."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from deploy import crds, ops_checks
from deploy.kustomize import render

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def prod() -> list[dict]:
    return render(ROOT / "deploy" / "k8s" / "overlays" / "prod")


def test_vendored_crds_match_their_pins():
    assert crds.check() == []
    for source in crds.SOURCES:
        assert len(source.commit) == 40 and source.tag


def test_a_hand_edited_crd_is_detected(tmp_path, monkeypatch):
    for source in crds.SOURCES:
        (tmp_path / source.file).write_bytes((crds.VENDOR / source.file).read_bytes())
    (tmp_path / crds.LOCK.name).write_bytes(crds.LOCK.read_bytes())
    edited = tmp_path / crds.SOURCES[0].file
    edited.write_text(edited.read_text().replace("type: string", "type: integer", 1))
    monkeypatch.setattr(crds, "VENDOR", tmp_path)
    monkeypatch.setattr(crds, "LOCK", tmp_path / crds.LOCK.name)
    assert crds.check() == [f"{crds.SOURCES[0].file}: content differs from the vendored sha256 (edited by hand?)"]


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_every_custom_resource_validates_against_the_published_crds(overlay):
    resources = render(ROOT / "deploy" / "k8s" / "overlays" / overlay)
    custom = [r for r in resources if "." in r["apiVersion"].split("/")[0] and not r["apiVersion"].startswith(
        ("apps/", "policy/", "autoscaling/", "networking.k8s.io/", "batch/"))]
    assert {r["kind"] for r in custom} >= {"Kafka", "KafkaNodePool", "KafkaTopic", "KafkaUser",
                                           "ClickHouseInstallation", "ClickHouseKeeperInstallation"}
    # Gateway API kinds have no vendored CRD: deploy/ops_checks.py validates them (docs/operations.md)
    assert crds.validate(r for r in custom if not ops_checks.is_gateway_api(r)) == []
    assert ops_checks.validate_gateway_api(r for r in custom if ops_checks.is_gateway_api(r)) == []


def test_current_operator_apis_only(prod):
    versions = {r["apiVersion"] for r in prod if "strimzi" in r["apiVersion"]}
    assert versions == {"kafka.strimzi.io/v1"}  # Strimzi 1.x serves no v1beta2
    (kafka,) = [r for r in prod if r["kind"] == "Kafka"]
    assert kafka["spec"]["kafka"]["version"].startswith("4.")


@pytest.mark.parametrize(("edit", "expected"), [
    (lambda r: r["spec"]["kafka"].update(listners=[]), "Additional properties are not allowed ('listners'"),
    (lambda r: r["spec"]["kafka"]["listeners"][0].update(type="sideways"), "'sideways' is not one of"),
    (lambda r: r["spec"].pop("kafka"), "'kafka' is a required property"),
], ids=["typo", "enum", "required"])
def test_strict_validation_refuses_a_broken_kafka(prod, edit, expected):
    kafka = copy.deepcopy(next(r for r in prod if r["kind"] == "Kafka"))
    edit(kafka)
    errors = crds.validate([kafka])
    assert any(expected in e for e in errors), errors


def test_v1beta2_refused(prod):
    topic = copy.deepcopy(next(r for r in prod if r["kind"] == "KafkaTopic"))
    topic["apiVersion"] = "kafka.strimzi.io/v1beta2"
    assert crds.validate([topic]) == [
        f"KafkaTopic/{topic['metadata']['name']}: kafka.strimzi.io/v1beta2/KafkaTopic is served by none of the "
        "vendored CRDs (deploy/schemas/crds)"]
