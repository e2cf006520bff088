"""The dead-letter tool against the real broker and the real notifier: a delivery that failed for good
is listed with its reason (never its text), replayed once (`--dry-run` writes nothing, a second replay
sends nothing) and delivered by the notifier despite the earlier dedup — also after a restart."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from contracts.notifications import replay_id
from services.common.broker import free_port
from services.common.dlq.cli import app as dlq
from testsupport.broker import read_topic

from .conftest import notifier_client, notifier_settings, unique
from .receivers import HttpReceiver
from .test_delivery import request

BODY = "Still to do today: meal."  # the message text request() writes: must never be printed


def _run(broker: str, *args: str) -> str:
    result = CliRunner().invoke(dlq, [*args, "--bootstrap", broker, "--idle", "0.5"])
    assert result.exit_code == 0, result.output
    assert BODY not in result.output and "Your check-ins today" not in result.output
    return result.output


def _replays_of(broker: str, dead_letter_id: str) -> list[dict]:
    values = [json.loads(r.value) for r in read_topic(broker, "notifications.outbound", idle_s=0.5)]
    return [v for v in values if v["type"] == "notification.replayed" and v["dead_letter_id"] == dead_letter_id]


def test_dead_letter_listed_replayed_once_and_delivered_despite_the_dedup(broker, jwt_secret, tmp_path):
    member, key = unique("m"), unique("reminder")
    port = free_port()
    settings = notifier_settings(broker, jwt_secret, str(tmp_path), push_gateway_url=f"http://127.0.0.1:{port}/push",
                                 retry_attempts=2)
    with notifier_client(settings) as client:  # the gateway is down: the reminder goes to the DLQ
        runtime = client.app.state.runtime
        client.portal.call(runtime.rebuilt.wait)
        assert client.portal.call(runtime.on_outbound_record, 0, request("push", member, key)) == "failed"
    dead = next(json.loads(r.value) for r in read_topic(broker, "notifications.dlq", expect_at_least=1)
                if json.loads(r.value)["dedup_key"] == key)
    letter = dead["event_id"]

    listed = _run(broker, "list")
    line = next(row for row in listed.splitlines() if letter in row)
    assert member in line and "ConnectError" in line and "pending" in line
    shown = _run(broker, "show", letter[:13])
    assert f"dedup_key: {key}" in shown and "status: pending" in shown

    dry = _run(broker, "replay", letter, "--dry-run", "--by", "ops-test")
    assert "would replay" in dry and "dry run" in dry
    assert _replays_of(broker, letter) == []

    assert "1 replayed by ops-test" in _run(broker, "replay", letter, "--by", "ops-test")
    again = _run(broker, "replay", letter, "--by", "ops-test")
    assert "already replayed" in again and "0 to replay, 1 skipped" in again
    replays = _replays_of(broker, letter)
    assert len(replays) == 1 and replays[0]["event_id"] == str(replay_id(dead["event_id"]))
    assert replays[0]["request"]["dedup_key"] == key and replays[0]["replayed_by"] == "ops-test"
    replayed = json.dumps(replays[0]).encode()

    gateway = HttpReceiver(port)  # the gateway is back
    try:
        with notifier_client(settings) as client:
            runtime = client.app.state.runtime
            client.portal.call(runtime.rebuilt.wait)
            # the original request stays deduplicated; the operator's replay goes through, once
            assert client.portal.call(runtime.on_outbound_record, 0, request("push", member, key)) == "duplicate"
            assert client.portal.call(runtime.on_outbound_record, 0, replayed) == "delivered"
            assert client.portal.call(runtime.on_outbound_record, 0, replayed) == "duplicate"
        with notifier_client(settings) as restarted:  # state rebuilt from the log knows the replay was delivered
            runtime = restarted.app.state.runtime
            restarted.portal.call(runtime.rebuilt.wait)
            assert restarted.portal.call(runtime.on_outbound_record, 0, replayed) == "duplicate"
    finally:
        gateway.stop()
    assert [b["dedup_key"] for b in gateway.bodies] == [key]
    assert gateway.headers[0]["Idempotency-Key"] == key  # the gateway sees the message's one key
    outcomes = [json.loads(r.value) for r in read_topic(broker, "notifications.outbound", idle_s=0.5)]
    delivered = [o for o in outcomes if o["type"] == "notification.delivered" and o["dedup_key"] == key]
    assert len(delivered) == 1 and delivered[0]["replay_of"] == replays[0]["event_id"]
    assert "already replayed" in next(row for row in _run(broker, "list").splitlines() if letter in row)


def test_bad_requests_get_a_clear_error(broker):
    runner = CliRunner()
    both = runner.invoke(dlq, ["replay", "--all", "0000", "--bootstrap", broker])
    assert both.exit_code == 2 and "not both" in both.output
    unknown = runner.invoke(dlq, ["show", "ffffffff-dead", "--bootstrap", broker, "--idle", "0.3"])
    assert unknown.exit_code == 1 and "no single dead letter ffffffff-dead" in unknown.output
    wrong_topic = runner.invoke(dlq, ["list", "--topic", "members", "--bootstrap", broker])
    assert wrong_topic.exit_code == 2 and "not a dead-letter topic" in wrong_topic.output
    # --connect-timeout 1: the same error as after the default 30 s, without waiting for it
    down = runner.invoke(dlq, ["list", "--bootstrap", f"127.0.0.1:{free_port()}", "--connect-timeout", "1"])
    assert down.exit_code == 1 and "cannot read from Kafka" in down.output and "Traceback" not in down.output


def test_incomplete_kafka_security_settings_named_without_a_trace(monkeypatch):
    from services.common import kafka_security

    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.delenv("KAFKA_SASL_USERNAME", raising=False)
    kafka_security.kafka_security.cache_clear()  # read once per process: this test changes the environment
    try:
        result = CliRunner().invoke(dlq, ["list", "--bootstrap", f"127.0.0.1:{free_port()}"])
    finally:
        monkeypatch.undo()
        kafka_security.kafka_security.cache_clear()
    assert result.exit_code == 1 and "KAFKA_SASL_USERNAME" in result.output and "Traceback" not in result.output
