"""Delivery on the real broker: retries while the SMTP server / push gateway is down, delivery once it
is back, the DLQ when it never comes back, and never twice for one dedup_key — not even after a restart."""

import json
from datetime import datetime, timezone
from uuid import uuid4

from contracts.notifications import NotificationRequested
from services.common.broker import free_port
from services.notifier import telemetry
from testsupport.broker import read_topic
from testsupport.polling import wait_until

from .conftest import notifier_client, notifier_settings, unique
from .receivers import HttpReceiver, SmtpServer

NOW = datetime(2026, 9, 3, 8, tzinfo=timezone.utc)


def request(channel: str, recipient: str, key: str | None = None) -> bytes:
    note = NotificationRequested(
        event_id=uuid4(), dedup_key=key or unique("test"), kind="reminder" if channel == "push" else "alert_raised",
        channel=channel, recipient=recipient, cohort="c-1", title="Your check-ins today",
        body="Still to do today: meal.", data={"day": "2026-09-03"}, occurred_at=NOW)
    return note.model_dump_json().encode()


def retries(channel: str) -> float:
    return telemetry.DELIVERY_RETRIES.labels(channel)._value.get()


def test_down_for_a_while_then_delivered_once_even_across_a_restart(broker, jwt_secret, tmp_path):
    push_port, smtp_port = free_port(), free_port()
    settings = notifier_settings(broker, jwt_secret, str(tmp_path), push_gateway_url=f"http://127.0.0.1:{push_port}/push",
                                 smtp_host="127.0.0.1", smtp_port=smtp_port, retry_attempts=20, retry_max_s=0.3,
                                 staff_emails={"n-a": "nurse.a@example.org"})
    member, nurse = unique("m"), "n-a"
    push_key, mail_key = unique("reminder"), unique("alert")
    receiver = smtp = None
    try:
        with notifier_client(settings) as client:
            runtime = client.app.state.runtime
            client.portal.call(runtime.rebuilt.wait)
            for channel, value, start in (
                ("push", request("push", member, push_key), lambda: HttpReceiver(push_port)),
                ("email", request("email", nurse, mail_key), lambda: SmtpServer(smtp_port)),
            ):
                before = retries(channel)
                future = client.portal.start_task_soon(runtime.on_outbound_record, 0, value)
                wait_until(lambda: retries(channel) >= before + 2, what=f"{channel} retried while down")
                started = start()  # the gateway / SMTP server comes back
                if channel == "push":
                    receiver = started
                else:
                    smtp = started
                assert future.result(timeout=30) == "delivered"
                # the same request again (a producer retry, a re-processed offset) is not sent again
                assert client.portal.call(runtime.on_outbound_record, 0, value) == "duplicate"
        with notifier_client(notifier_settings(broker, jwt_secret, str(tmp_path), push_gateway_url=receiver.url,
                                               smtp_host="127.0.0.1", smtp_port=smtp_port)) as again:
            runtime = again.app.state.runtime
            again.portal.call(runtime.rebuilt.wait)
            assert again.portal.call(runtime.on_outbound_record, 0, request("push", member, push_key)) == "duplicate"
            assert again.portal.call(runtime.on_outbound_record, 0, request("email", nurse, mail_key)) == "duplicate"
        assert [b["dedup_key"] for b in receiver.bodies] == [push_key]
        assert receiver.bodies[0]["body"] == "Still to do today: meal." and receiver.headers[0]["Idempotency-Key"] == push_key
        assert len(smtp.messages) == 1 and smtp.messages[0][0] == ["nurse.a@example.org"]
        assert "Subject: Your check-ins today" in smtp.messages[0][1]
        outcomes = [json.loads(r.value) for r in read_topic(broker, "notifications.outbound", expect_at_least=2)]
        delivered = [o for o in outcomes if o["type"] == "notification.delivered" and o["dedup_key"] in (push_key, mail_key)]
        assert sorted(o["channel"] for o in delivered) == ["email", "push"] and all(o["attempts"] >= 3 for o in delivered)
    finally:
        for server in (receiver, smtp):
            if server is not None:
                server.stop()


def test_down_for_good_goes_to_the_dlq_and_refusals_are_not_retried(broker, jwt_secret, tmp_path):
    refusing = HttpReceiver(free_port(), status=400)
    dead_url = f"http://127.0.0.1:{free_port()}/push"
    member = unique("m")
    keys = {"down": unique("down"), "refused": unique("refused"), "unconfigured": unique("unconfigured")}
    try:
        with notifier_client(notifier_settings(broker, jwt_secret, str(tmp_path), push_gateway_url=dead_url,
                                               nurse_webhook_url=refusing.url, retry_attempts=3)) as client:
            runtime = client.app.state.runtime
            client.portal.call(runtime.rebuilt.wait)
            assert client.portal.call(runtime.on_outbound_record, 0, request("push", member, keys["down"])) == "failed"
            assert client.portal.call(runtime.on_outbound_record, 0, request("webhook", "n-a", keys["refused"])) == "failed"
            assert client.portal.call(runtime.on_outbound_record, 0, request("email", "n-a", keys["unconfigured"])) == "failed"
            assert client.portal.call(runtime.on_outbound_record, 0, request("push", member, keys["down"])) == "duplicate"
            metrics = client.get("/metrics").text
            assert 'notifier_deliveries_total{channel="push",outcome="failed"}' in metrics
    finally:
        refusing.stop()
    dead = {json.loads(r.value)["dedup_key"]: json.loads(r.value) for r in read_topic(broker, "notifications.dlq", expect_at_least=3)}
    assert dead[keys["down"]]["attempts"] == 3 and "ConnectError" in dead[keys["down"]]["reason"]
    assert dead[keys["refused"]]["attempts"] == 1 and dead[keys["refused"]]["reason"].endswith("HTTP 400")
    assert dead[keys["unconfigured"]]["reason"] == "PermanentFailure: email channel not configured"
    assert dead[keys["down"]]["request"]["recipient"] == member
    failed = [json.loads(r.value) for r in read_topic(broker, "notifications.outbound", expect_at_least=3)]
    assert sorted(f["dedup_key"] for f in failed if f["type"] == "notification.failed" and f["dedup_key"] in keys.values()) \
        == sorted(keys.values())
