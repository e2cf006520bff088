"""Logs carry no token and no free text, whatever clients send (ingest at DEBUG level)."""

import os
from uuid import uuid4

import httpx

from services.common.broker import free_port
from testsupport.broker import ServiceProcess

MARKER = "PRIVATE-MESSAGE-TEXT-7f3a"


def test_ingest_logs_no_token_and_no_free_text(broker, jwt_secret, mint, tmp_path, fault_report):
    port = free_port()
    log_path = tmp_path / "ingest.log"
    env = dict(os.environ, KAFKA_BOOTSTRAP=broker, JWT_SECRET=jwt_secret, INGEST_PORT=str(port), LOG_LEVEL="DEBUG")
    ingest = ServiceProcess("ingest", env, port, str(log_path)).start()
    member_token, forged = mint("m-priv"), mint("m-priv")[:-4] + "AAAA"
    post = {"event_id": str(uuid4()), "type": "post", "member_id": "m-priv",
            "occurred_at": "2026-11-02T08:00:00+00:00", "payload": {"channel": "community", "text": MARKER}}
    tries = [({"Authorization": f"Bearer {member_token}"}, [post]),
             ({"Authorization": f"Bearer {forged}"}, [post]),
             ({"Authorization": f"Bearer {member_token}"}, f'[{{"note": "{MARKER}"'),  # malformed JSON
             ({"Authorization": f"Bearer {member_token}"}, [post | {"member_id": "m-other"}])]
    try:
        codes = []
        for headers, body in tries:
            kwargs = {"content": body} if isinstance(body, str) else {"json": body}
            codes.append(httpx.post(f"{ingest.url}/v1/events", headers=headers, timeout=10, **kwargs).status_code)
    finally:
        ingest.stop()
    assert codes == [422, 401, 400, 403]
    text = log_path.read_text()
    assert "ingest_started" in text, "the log was captured"
    assert member_token not in text and forged not in text and MARKER not in text
    fault_report.add("privacy (logs)", inputs_tried=len(tries), requests_refused_correctly=len(tries))
