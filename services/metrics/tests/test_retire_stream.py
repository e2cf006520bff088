"""Retirement on the real broker (docs/scale.md, "Retiring ended members"): a metrics stream worker
retires the members of a cohort that ended more than the dedup window ago at a tick it reads at its
log end, keeps the days it published, and ignores (counts) the member's later records."""

from __future__ import annotations

import time
import uuid
from datetime import date, datetime, timedelta, timezone

import orjson
from kafka import KafkaProducer
from prometheus_client.parser import text_string_to_metric_families

from contracts.clock import tick_event_id
from contracts.topics import CLOCK_TICKS, ENGAGEMENT_DAILY, ENGAGEMENT_EVENTS, MEMBERS
from testsupport.broker import read_topic
from testsupport.polling import wait_until

from .conftest import metrics_client, unique_prefix

ENDS_ON = datetime.now(timezone.utc).date() - timedelta(days=40)
FIRST = ENDS_ON - timedelta(days=6)


def _counter(client, name: str) -> float:
    text = client.get("/metrics").text
    return sum(s.value for f in text_string_to_metric_families(text) for s in f.samples if s.name == name)


def _send(producer: KafkaProducer, topic: str, key: str, value: dict, partition: int | None = None) -> None:
    producer.send(topic, key=key.encode(), value=orjson.dumps(value), partition=partition).get(10)


def _login(member: str, day: date) -> dict:
    at = datetime.combine(day, datetime.min.time(), timezone.utc) + timedelta(hours=9)
    return {"event_id": str(uuid.uuid4()), "type": "login", "member_id": member, "occurred_at": at.isoformat(),
            "received_at": at.isoformat(), "payload": {}}


def _daily(bootstrap: str, member: str) -> dict[bytes, bytes]:
    return {r.key: r.value for r in read_topic(bootstrap, ENGAGEMENT_DAILY.name, timeout_s=5)
            if r.key.startswith(f"{member}|".encode())}


def test_an_ended_cohort_s_member_is_retired_and_its_later_records_change_nothing(own_broker, jwt_secret,
                                                                                   tmp_path):
    _, bootstrap = own_broker  # a clock of its own: the test writes ticks
    member, cohort = unique_prefix() + "-m", unique_prefix() + "-ended"
    enrolment = {"type": "member.enrolled", "event_id": str(uuid.uuid4()), "member_id": member, "cohort": cohort,
                 "timezone": "Europe/Berlin", "enrolled_on": FIRST.isoformat(),
                 "occurred_at": f"{FIRST.isoformat()}T08:00:00Z"}
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    with metrics_client(bootstrap, jwt_secret, tmp_path / "chdb", run_sink=False) as metrics:
        books = metrics.app.state.faust.books
        # the counters belong to the test process: count from here
        retired, ignored = (_counter(metrics, f"metrics_stream_{name}_total")
                            for name in ("members_retired", "retired_member_records"))
        _send(producer, MEMBERS.name, f"cohort:{cohort}", {
            "type": "cohort.configured", "event_id": str(uuid.uuid4()), "cohort": cohort,
            "settings": {"ends_on": ENDS_ON.isoformat()}, "occurred_at": f"{FIRST.isoformat()}T07:00:00Z"})
        _send(producer, MEMBERS.name, member, enrolment)
        for n in range(7):
            _send(producer, ENGAGEMENT_EVENTS.name, member, _login(member, FIRST + timedelta(days=n)))
        wait_until(lambda: books.book_of(member) and len(books.book_of(member).days_of.get(member, ())) == 7,
                   what="the follow-up days to be folded")
        published = wait_until(lambda: len(d := _daily(bootstrap, member)) == 7 and d, what="the days to be published")

        # Ticks an hour apart until the member's partition reads one at its log end.
        tick_at = datetime.now(timezone.utc)
        while member not in (books.book_of(member).retired if books.book_of(member) else {}):
            assert tick_at < datetime.now(timezone.utc) + timedelta(hours=60), "never retired"
            tick = {"type": "clock.tick", "event_id": str(tick_event_id(tick_at)), "now": tick_at.isoformat()}
            for partition in sorted(producer.partitions_for(CLOCK_TICKS.name)):
                _send(producer, CLOCK_TICKS.name, str(partition), tick, partition=partition)
            tick_at += timedelta(hours=1, minutes=1)
            time.sleep(0.5)
        book = books.book_of(member)
        assert member not in book.members and member not in book.days_of and member not in book.first_delivery
        assert book.retired[member] == (FIRST, ENDS_ON)
        assert _counter(metrics, "metrics_stream_members_retired_total") == retired + 1

        # A re-delivered enrolment and app use after the end: read, ignored and counted, nothing published.
        _send(producer, MEMBERS.name, member, enrolment)
        _send(producer, ENGAGEMENT_EVENTS.name, member, _login(member, ENDS_ON + timedelta(days=39)))
        wait_until(lambda: _counter(metrics, "metrics_stream_retired_member_records_total") == ignored + 2,
                   what="the late records to be counted")
        assert _daily(bootstrap, member) == published
    producer.close()
