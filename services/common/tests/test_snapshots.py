"""Snapshots against the real broker (docs/scale.md, "Snapshots and restarts"): a notifier and a survey
runtime started from a snapshot hold exactly the state of a full replay; a corrupt snapshot falls back
to the full replay, logged and counted. The SIGKILL test with every service is
tests/scale/test_snapshot_restart.py."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timezone
from uuid import uuid4

import pytest
from prometheus_client import REGISTRY

from contracts.topics import ENGAGEMENT_EVENTS, NOTIFIER_SNAPSHOTS, SURVEY_SNAPSHOTS
from services.common.kafka import Publisher, Record
from services.common.logging import configure_logging
from services.notifier.runtime import NotifierRuntime
from services.notifier.settings import NotifierSettings
from services.survey.runtime import SurveyRuntime
from services.survey.settings import SurveySettings
from testsupport.records import enrolments

AT = datetime(2026, 11, 2, 9, tzinfo=timezone.utc)
SERVICES = {
    "notifier": (NotifierRuntime, NotifierSettings, NOTIFIER_SNAPSHOTS, lambda r: r.state, "notifier.snapshot"),
    "survey": (SurveyRuntime, SurveySettings, SURVEY_SNAPSHOTS, lambda r: r.book, "survey.snapshot"),
}


def logins(members: range) -> list[Record]:
    return [Record(ENGAGEMENT_EVENTS.name, f"m-{i}".encode(), json.dumps({
        "type": "login", "event_id": str(uuid4()), "member_id": f"m-{i}", "occurred_at": AT.isoformat(),
        "received_at": AT.isoformat(), "payload": {}}).encode()) for i in members]


def fallbacks(service: str, reason: str) -> float:
    return REGISTRY.get_sample_value("carecircle_snapshot_fallbacks_total", {"service": service, "reason": reason}) or 0


async def _run(runtime_class, settings):
    """Start a runtime, wait until its state is rebuilt, stop it (a clean stop writes a snapshot)."""
    runtime = runtime_class(settings)
    await runtime.start()
    try:
        await asyncio.wait_for(runtime.rebuilt.wait(), 60)
    finally:
        await runtime.stop()
    return runtime


def _canonical(tree):
    """The encoded state with every mapping's pairs sorted: which partition a replay reads first decides
    the insertion order of dicts, never their content."""
    if isinstance(tree, list):
        return [_canonical(v) for v in tree]
    if isinstance(tree, dict):
        out = {k: _canonical(v) for k, v in tree.items()}
        for tag in ("$d", "$c", "$v"):
            if tag in out and isinstance(out[tag], list) and ("$d" in tree or "$c" in tree or "$dd" in tree):
                out[tag] = sorted(out[tag], key=lambda pair: json.dumps(pair[0], sort_keys=True))
        return out
    return tree


def _encoded(service: str, runtime) -> str:
    codec = __import__(f"services.{service}.snapshot", fromlist=["CODEC"]).CODEC
    return json.dumps(_canonical(codec.encode(SERVICES[service][3](runtime).to_snapshot())), sort_keys=True)


@pytest.mark.parametrize("service", sorted(SERVICES))
async def test_a_start_from_the_snapshot_holds_the_state_of_a_full_replay(service, own_broker, jwt_secret,
                                                                          tmp_path):
    runtime_class, settings_class, _, _, _ = SERVICES[service]
    _, bootstrap = own_broker
    settings = settings_class(kafka_bootstrap=bootstrap, jwt_secret=jwt_secret, rebuild_idle_s=0.3,
                              faust_datadir=str(tmp_path), snapshot_every_records=100, snapshot_every_s=60)
    publisher = Publisher(bootstrap)
    await publisher.publish(enrolments(range(0, 40)) + logins(range(0, 40)))
    first = await _run(runtime_class, settings)
    assert first.snapshotter.restored == {}  # nothing to restore yet: full replay, counted as missing

    await publisher.publish(enrolments(range(40, 60)) + logins(range(20, 60)))  # the log after the snapshot
    restored = await _run(runtime_class, settings)
    assert restored.snapshotter.restored, "the second start restores the snapshot the first one wrote"
    assert sum(restored.snapshotter.restored.values()) >= 40  # it skipped the records the snapshot holds
    replayed = await _run(runtime_class, settings.model_copy(update={"snapshots_enabled": False}))
    assert _encoded(service, restored) == _encoded(service, replayed)
    publisher.close()


@pytest.mark.parametrize("service", sorted(SERVICES))
async def test_a_corrupt_snapshot_falls_back_to_the_full_replay_logged_and_counted(service, own_broker, jwt_secret,
                                                                                   tmp_path, capsys):
    runtime_class, settings_class, topic, _, _ = SERVICES[service]
    _, bootstrap = own_broker
    configure_logging(f"{service}-test")  # the JSON lines a service writes
    settings = settings_class(kafka_bootstrap=bootstrap, jwt_secret=jwt_secret, rebuild_idle_s=0.3,
                              faust_datadir=str(tmp_path))
    publisher = Publisher(bootstrap)
    await publisher.publish(enrolments(range(0, 20)) + logins(range(0, 20)))
    await publisher.publish([Record(topic.name, service.encode(), b'{"format": 1, "state": "garbage m-7"}')])
    before = fallbacks(service, "corrupt")
    runtime = await _run(runtime_class, settings)
    assert fallbacks(service, "corrupt") == before + 1
    assert runtime.snapshotter.restored == {}
    replayed = await _run(runtime_class, settings.model_copy(update={"snapshots_enabled": False}))
    assert _encoded(service, runtime) == _encoded(service, replayed)
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if "snapshot_fallback" in line]
    assert lines[0]["reason"] == "corrupt" and lines[0]["service"] == service and lines[0]["level"] == "warning"
    assert all("m-7" not in json.dumps(line) for line in lines)  # no member data in the log
    publisher.close()
