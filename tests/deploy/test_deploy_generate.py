"""Generated deployment files are current: KafkaTopics from the topic catalogue, the PrometheusRule from the
compose alert rules, and the image constraints agree with pyproject.toml."""

from __future__ import annotations

from dataclasses import replace

import pytest
from packaging.utils import canonicalize_name

from contracts.topics import CATALOGUE, Topic
from deploy import generate, lock, policy
from deploy.yamlio import load, load_all


def test_checked_in_files_are_current():
    assert generate.stale() == [], "run `python -m deploy.generate` and commit the result"
    assert generate.main(["--check"]) == 0


def test_one_kafka_topic_per_catalogue_topic_with_its_settings():
    topics = {t["spec"]["topicName"]: t for t in load_all(generate.TOPICS_FILE)}
    assert set(topics) == {t.name for t in CATALOGUE}
    for topic in CATALOGUE:
        spec = topics[topic.name]["spec"]
        assert spec["partitions"] == topic.partitions
        assert {k: str(v) for k, v in spec["config"].items() if k in topic.kafka_configs()} == topic.kafka_configs()
        assert topics[topic.name]["metadata"]["labels"]["strimzi.io/cluster"] == generate.KAFKA_CLUSTER


def test_new_catalogue_topic_makes_ci_fail_until_regenerated(monkeypatch):
    extra = Topic("cohort.reports", "cohort", ("report.*",), "Weekly cohort reports", retention_ms=86_400_000)
    grown = (*CATALOGUE, extra)
    monkeypatch.setattr(generate, "CATALOGUE", grown)
    assert generate.TOPICS_FILE in generate.stale()
    assert generate.main(["--check"]) == 1
    # and the manifest check names the missing topic
    errors = policy.check_topics(load_all(generate.TOPICS_FILE) + _kafka_cluster(), grown)
    assert errors == ["topic cohort.reports: in contracts/topics.py but no KafkaTopic (run python -m deploy.generate)"]
    # a changed setting is caught too
    changed = tuple(replace(t, partitions=12) if t.name == "alerts" else t for t in CATALOGUE)
    errors = policy.check_topics(load_all(generate.TOPICS_FILE) + _kafka_cluster(), changed)
    assert errors == ["topic alerts: KafkaTopic has 6 partitions, catalogue 12"]


def _kafka_cluster() -> list[dict]:
    return load_all(generate.DEPLOY / "k8s" / "base" / "kafka" / "kafka.yaml")


@pytest.mark.parametrize(("topic", "resource"), [("engagement.events", "engagement.events"), ("dead_letters", "dead-letters")])
def test_resource_names_are_valid_kubernetes_names(topic, resource):
    assert generate.resource_name(topic) == resource


def test_topic_name_that_cannot_be_a_resource_name_is_refused():
    with pytest.raises(ValueError, match="cannot be named"):
        generate.resource_name("-bad/topic")


def test_prometheus_rule_carries_exactly_the_compose_rules():
    (rule,) = load_all(generate.RULE_FILE)
    assert rule["spec"]["groups"] == load(generate.ALERTS_FILE)["groups"]


@pytest.mark.parametrize("service", lock.SERVICES)
def test_image_locks_satisfy_pyproject_ranges(service):
    pins = lock.locked(service)
    conflicts = []
    for requirement in lock.runtime_requirements(service):
        version = pins.get(canonicalize_name(requirement.name))
        if version is None or not requirement.specifier.contains(version, prereleases=True):
            conflicts.append(f"{requirement}: locked {version}")
    assert conflicts == [], "run `python -m deploy.lock` after changing a dependency range"
    assert {"fastapi", "kafka-python", "uvicorn", "uvloop", "httptools"} <= set(pins)
