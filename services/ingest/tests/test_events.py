"""POST /v1/events against the real broker."""

import json
import time
from datetime import datetime, timedelta, timezone
from uuid import uuid4

import jwt as pyjwt

from services.common.broker import start_broker
from testsupport.broker import read_topic

from .conftest import RECENT, enrol, ingest_client


def checkin(member, task="meal", **over):
    return {"event_id": str(uuid4()), "type": "checkin", "member_id": member,
            "occurred_at": RECENT, "payload": {"task": task}} | over


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def landed(broker, event_ids):
    """Records of `engagement.events` carrying these event ids (other tests share the topic)."""
    ids = {str(i) for i in event_ids}
    hits = []
    for record in read_topic(broker, "engagement.events"):
        body = json.loads(record.value)
        if isinstance(body, dict) and body.get("event_id") in ids:
            hits.append(record)
    return hits


def test_batch_of_500_lands_keyed_by_member(client, broker, mint):
    members = [f"bulk-{uuid4().hex[:8]}-{i}" for i in range(7)]
    enrol(client, mint("ops", "admin"), *members)
    events = [checkin(members[i % 7]) for i in range(500)]
    response = client.post("/v1/events", json=events, headers=bearer(mint("ops", "admin")))
    assert response.status_code == 202, response.text
    assert response.json() == {"accepted": 500, "rejected": []}
    hits = landed(broker, [e["event_id"] for e in events])
    assert len(hits) == 500
    for record in hits:
        body = json.loads(record.value)
        assert record.key.decode() == body["member_id"]
        assert body["received_at"]
    by_member = {}
    for record in hits:
        by_member.setdefault(record.key, set()).add(record.partition)
    assert all(len(parts) == 1 for parts in by_member.values()), "one member's events share a partition"


def test_member_batch_of_own_events(client, broker, mint):
    member = f"m-{uuid4().hex[:8]}"
    enrol(client, mint("ops", "admin"), member)
    events = [checkin(member, task=t) for t in ("meal", "exercise")] * 250
    for e in events:
        e["event_id"] = str(uuid4())
    response = client.post("/v1/events", json=events, headers=bearer(mint(member)))
    assert response.json()["accepted"] == 500
    assert len(landed(broker, [e["event_id"] for e in events])) == 500


def test_mixed_batch_reports_each_bad_index_and_stores_only_the_good(client, broker, mint):
    member = f"m-{uuid4().hex[:8]}"
    enrol(client, mint("ops", "admin"), member)
    good = [checkin(member), checkin(member, type="login", payload={})]
    bad_type = checkin(member, type="purchase")
    naive = checkin(member, occurred_at="2026-11-02T08:15:00")
    extra = checkin(member, payload={"task": "meal", "message": "free text"})
    batch = [good[0], bad_type, naive, good[1], extra]
    response = client.post("/v1/events", json=batch, headers=bearer(mint(member)))
    assert response.status_code == 202
    body = response.json()
    assert body["accepted"] == 2
    assert [r["index"] for r in body["rejected"]] == [1, 2, 4]
    assert body["rejected"][2]["errors"][0]["loc"] == ["checkin", "payload", "message"]
    assert len(landed(broker, [e["event_id"] for e in good])) == 2
    assert landed(broker, [e["event_id"] for e in (bad_type, naive, extra)]) == []


def test_no_valid_event_is_422_and_nothing_lands(client, broker, mint):
    member = f"m-{uuid4().hex[:8]}"
    batch = [checkin(member, occurred_at="1999-01-01T00:00:00+00:00")]
    response = client.post("/v1/events", json=batch, headers=bearer(mint(member)))
    assert response.status_code == 422
    assert response.json()["detail"][0]["index"] == 0
    assert landed(broker, [batch[0]["event_id"]]) == []


def test_forged_member_id_is_403_and_nothing_lands(client, broker, mint):
    batch = [checkin("m-alice"), checkin("m-bob")]
    response = client.post("/v1/events", json=batch, headers=bearer(mint("m-alice")))
    assert response.status_code == 403
    assert "event 1" in response.json()["detail"]
    assert landed(broker, [e["event_id"] for e in batch]) == []


def test_tokens_missing_expired_foreign_or_unsigned_are_401(client, mint):
    body = [checkin("m-1")]
    expired = mint("m-1", now=datetime.now(timezone.utc) - timedelta(days=2), ttl=timedelta(hours=1))
    foreign = pyjwt.encode({"sub": "m-1", "role": "member", "exp": 4102444800}, "another-key-" * 4, "HS256")
    unsigned = pyjwt.encode({"sub": "m-1", "role": "member", "exp": 4102444800}, None, "none")
    assert client.post("/v1/events", json=body).status_code == 401
    for token in (expired, foreign, unsigned, "garbage"):
        response = client.post("/v1/events", json=body, headers=bearer(token))
        assert response.status_code == 401, token
        assert response.headers["www-authenticate"] == "Bearer"
    assert client.post("/v1/events", json=body, headers=bearer(mint("n-1", "nurse"))).status_code == 403


def test_request_shape_errors(client, mint):
    token = bearer(mint("m-1"))
    assert client.post("/v1/events", content=b"{not json", headers=token).status_code == 400
    assert client.post("/v1/events", json=[], headers=token).status_code == 422
    assert client.post("/v1/events", json=[checkin("m-1")] * 501, headers=token).status_code == 422
    huge = json.dumps([checkin("m-1")]).encode() + b" " * (1024 * 1024)
    response = client.post("/v1/events", content=huge, headers=token | {"content-type": "application/json"})
    assert response.status_code == 413


def test_broker_stopped_gives_503_and_claims_nothing(own_broker, jwt_secret, mint):
    holder, bootstrap = own_broker
    with ingest_client(bootstrap, jwt_secret, delivery_timeout_ms=1_500) as client:
        token = bearer(mint("m-1"))
        enrol(client, mint("ops", "admin"), "m-1")
        assert client.post("/v1/events", json=[checkin("m-1")], headers=token).status_code == 202
        assert client.get("/readyz").status_code == 200
        holder["process"].kill()
        holder["process"].wait()
        response = client.post("/v1/events", json=[checkin("m-1") for _ in range(20)], headers=token)
        assert response.status_code == 503
        assert response.headers["retry-after"] == "5"
        assert "accepted" not in response.json()
        assert client.get("/readyz").status_code == 503
        metrics = client.get("/metrics").text
        assert 'ingest_requests_refused_total{status="503"}' in metrics

        # The broker returns (empty: tansu keeps memory only): ingest recovers by itself.
        holder["process"], _ = start_broker(int(bootstrap.rsplit(":", 1)[1]))
        retried = [checkin("m-1") for _ in range(3)]
        deadline = time.monotonic() + 20
        while (code := client.post("/v1/events", json=retried, headers=token).status_code) != 202:
            assert code == 503 and time.monotonic() < deadline
            time.sleep(0.5)
        assert len(landed(bootstrap, [e["event_id"] for e in retried])) == 3
