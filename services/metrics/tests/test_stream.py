"""faust member-day state on the real broker: dead-lettering events of unknown members and
re-applying them when the enrolment arrives; duplicates change nothing."""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timedelta, timezone

import orjson
from kafka import KafkaProducer

from contracts.daily import EngagementDay, EventDeadLetter
from testsupport.broker import read_topic

from .conftest import ingest_client, metrics_client, unique_prefix


def _wait(predicate, what: str, timeout_s: float = 60.0):
    deadline = time.monotonic() + timeout_s
    while not (result := predicate()):
        assert time.monotonic() < deadline, what
        time.sleep(0.2)
    return result


def test_unknown_member_is_dead_lettered_then_reapplied(broker, jwt_secret, admin_token, tmp_path):
    member = unique_prefix() + "-late"
    admin = {"Authorization": f"Bearer {admin_token}"}
    # Recent dates: a waiting event older than the accepted lateness before the tick is forgotten.
    day = datetime.now(timezone.utc).date() - timedelta(days=2)
    checkin = {"event_id": str(uuid.uuid4()), "type": "checkin", "member_id": member,
               "occurred_at": f"{day}T23:30:00+08:00", "payload": {"task": "meal"}}
    with ingest_client(broker, jwt_secret) as ingest, \
            metrics_client(broker, jwt_secret, tmp_path / "chdb", run_sink=False) as metrics:
        books = metrics.app.state.faust.books
        # Ingest refuses events of members it does not know (not_enrolled), so the event comes straight
        # from the log, as one written before that guard or accepted by a replica that knew more.
        producer = KafkaProducer(bootstrap_servers=broker)
        record = orjson.dumps(checkin | {"received_at": datetime.now(timezone.utc).isoformat()})
        for _ in range(2):  # a duplicate delivery
            producer.send("engagement.events", key=member.encode(), value=record).get(10)
        producer.close()
        _wait(lambda: books.book_of(member) and checkin["event_id"] in books.book_of(member).pending.get(member, {}),
              "event not pending")
        now = datetime.now(timezone.utc).isoformat()
        assert ingest.post("/v1/admin/clock", json={"now": now}, headers=admin).status_code == 202

        def letters():
            return [EventDeadLetter.model_validate_json(r.value)
                    for r in read_topic(broker, "engagement.events.dlq", timeout_s=5) if r.key == member.encode()]
        letter = _wait(letters, "no dead letter")
        assert len(letter) == 1 and letter[0].reason == "unknown_member"
        assert str(letter[0].event_id) == checkin["event_id"] and letter[0].event["payload"]["task"] == "meal"

        body = {"member_id": member, "cohort": "late-cohort", "timezone": "Asia/Shanghai",
                "enrolled_on": str(day - timedelta(days=2))}
        assert ingest.post("/v1/enrollments", json=body, headers=admin).status_code == 202

        def published():
            return [
                EngagementDay.model_validate_json(r.value)
                for r in read_topic(broker, "engagement.daily", timeout_s=5)
                if r.key == f"{member}|{day}".encode()
            ]

        days = _wait(published, "re-applied day not published")
        assert days[-1].logged_in and days[-1].tasks_done == ("meal",) and days[-1].actions == 1
        assert days[-1].day_number == 3 and days[-1].in_follow_up and days[-1].events == 1
        assert not books.book_of(member).pending.get(member)


def test_erasure_re_keys_the_stream_state_and_tombstones_the_published_days(broker, jwt_secret, admin_token,
                                                                         tmp_path):
    """docs/erasure.md: DELETE /v1/members/{id} → the faust book holds the member's days under a
    pseudonym, and the id's keys on the compacted engagement.daily end in tombstones."""
    member = unique_prefix() + "-gone"
    admin = {"Authorization": f"Bearer {admin_token}"}
    body = {"member_id": member, "cohort": "erase-cohort", "timezone": "Asia/Shanghai", "enrolled_on": "2026-08-30"}
    login = {"event_id": str(uuid.uuid4()), "type": "login", "member_id": member,
             "occurred_at": "2026-09-01T08:00:00+08:00", "payload": {}}
    with ingest_client(broker, jwt_secret) as ingest, \
            metrics_client(broker, jwt_secret, tmp_path / "chdb", run_sink=False) as metrics:
        books = metrics.app.state.faust.books
        assert ingest.post("/v1/enrollments", json=body, headers=admin).status_code == 202
        assert ingest.post("/v1/events", json=[login], headers=admin).json()["accepted"] == 1
        _wait(lambda: books.book_of(member) and books.book_of(member).days_of.get(member), "day not folded")
        before = books.day(member, min(books.book_of(member).days_of[member]))
        assert ingest.delete(f"/v1/members/{member}", headers=admin).status_code == 202
        pseudonym = _wait(lambda: books.erased.get(member), "erasure not applied")
        # The erasure agent reports its applied offset like every agent (docs/scale.md, "Lag"); the
        # 5 s lag timer alone would only seed it from the committed offset, so look within 2 s.
        lag = metrics.app.state.faust.lag
        _wait(lambda: any(topic == "member.erasures" for topic, _ in lag.applied),
              "erasure agent reported no applied offset", timeout_s=2.0)
        assert books.book_of(member) is None  # nothing is kept under the id
        after = books.day(pseudonym, before.day)
        assert after.model_dump(exclude={"member_id"}) == before.model_dump(exclude={"member_id"})

        def last_value():
            values = [r.value for r in read_topic(broker, "engagement.daily", timeout_s=5)
                      if r.key == f"{member}|2026-09-01".encode()]
            return values and values[-1] is None
        _wait(last_value, "no tombstone for the erased member's day")
