"""Issue 14 item 12: finite, configurable retention for the topics that hold message text (dead letters,
notifications.outbound), documented retention for every topic."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from contracts.topics import CATALOGUE, DAY_MS, DEAD_LETTER_TOPICS, NOTIFICATIONS_OUTBOUND
from deploy import generate
from deploy.yamlio import load_all
from services.common.settings import RetentionSettings

ROOT = Path(__file__).resolve().parents[2]
TEXT_TOPICS = {t.name for t in DEAD_LETTER_TOPICS} | {NOTIFICATIONS_OUTBOUND.name}


def test_topics_holding_message_text_have_a_finite_retention_in_the_catalogue_and_the_kafka_topics():
    assert {"engagement.events.dlq", "notifications.dlq"} <= {t.name for t in DEAD_LETTER_TOPICS}
    kafka_topics = {t["spec"]["topicName"]: t["spec"]["config"] for t in load_all(generate.TOPICS_FILE)}
    for topic in CATALOGUE:
        if topic.name in TEXT_TOPICS:
            assert not topic.kept_forever, topic.name
            assert 0 < int(kafka_topics[topic.name]["retention.ms"]) <= 90 * DAY_MS, topic.name
            # deletion follows the retention to within a day: segments roll daily
            assert int(kafka_topics[topic.name]["segment.ms"]) == DAY_MS, topic.name


def test_retention_is_configurable_from_the_environment(monkeypatch):
    monkeypatch.setenv("KAFKA_RETENTION_DEAD_LETTER_DAYS", "3")
    monkeypatch.setenv("KAFKA_RETENTION_OUTBOUND_DAYS", "5")
    configured = {t.name: t for t in RetentionSettings().catalogue()}
    for name in TEXT_TOPICS:
        expected = (5 if name == NOTIFICATIONS_OUTBOUND.name else 3) * DAY_MS
        assert configured[name].kafka_configs()["retention.ms"] == str(expected), name
    for topic in CATALOGUE:  # every other topic keeps the catalogue's retention
        if topic.name not in TEXT_TOPICS:
            assert configured[topic.name] == topic


@pytest.mark.parametrize("env, field", [
    ({"KAFKA_RETENTION_DEAD_LETTER_DAYS": "0"}, "dead_letter_days"),
    ({"KAFKA_RETENTION_OUTBOUND_DAYS": "-1"}, "outbound_days"),
    ({"KAFKA_RETENTION_DEAD_LETTER_DAYS": "40", "KAFKA_RETENTION_OUTBOUND_DAYS": "30"}, "OUTBOUND"),
])
def test_infinite_or_inconsistent_retention_refused_with_the_setting_named(monkeypatch, env, field):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ValidationError) as error:
        RetentionSettings()
    assert field in str(error.value)


def test_every_topic_has_its_retention_documented():
    text = (ROOT / "docs" / "retention.md").read_text("utf-8")
    rows = {line.split("|")[1].strip().strip("`"): line for line in text.splitlines()
            if line.startswith("| `")}
    for topic in CATALOGUE:
        assert topic.name in rows, f"docs/retention.md has no row for {topic.name}"
        row = rows[topic.name]
        if topic.compacted:
            assert "compact" in row, topic.name
        elif topic.retention_ms < 0:
            assert "for ever" in row, topic.name
        else:
            assert f"{topic.retention_ms // DAY_MS} days" in row, topic.name
