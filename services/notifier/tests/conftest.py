"""Notifier test helpers: the app against the real broker, and a driver that writes the topics."""

from __future__ import annotations

import asyncio
import json
from datetime import date, datetime, timezone
from uuid import uuid4

import pytest
from fastapi.testclient import TestClient
from kafka.partitioner.default import murmur2

from contracts.topics import CLOCK_TICKS, ENGAGEMENT_EVENTS, MEMBER_PARTITIONS, MEMBERS
from services.common.kafka import Publisher, Record
from services.notifier.app import create_app
from services.notifier.settings import NotifierSettings


def partition_of(member_id: str, partitions: int = MEMBER_PARTITIONS) -> int:
    return (murmur2(member_id.encode()) & 0x7FFFFFFF) % partitions


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid4().hex[:8]}"


def notifier_settings(bootstrap: str, jwt_secret: str, tmp: str, **overrides) -> NotifierSettings:
    values = dict(kafka_bootstrap=bootstrap, jwt_secret=jwt_secret, rebuild_idle_s=0.3, faust_datadir=tmp,
                  group_id=unique("notifier-test"), retry_initial_s=0.05, retry_max_s=0.2, retry_attempts=3)
    return NotifierSettings(**(values | overrides))


def notifier_client(settings: NotifierSettings, run_stream: bool = False) -> TestClient:
    return TestClient(create_app(settings, run_stream=run_stream), raise_server_exceptions=False)


class World:
    """Writes cohort settings, enrolments, withdrawals, client events and ticks to the real topics."""

    def __init__(self, bootstrap: str) -> None:
        self.publisher = Publisher(bootstrap)

    def _send(self, records: list[Record]) -> None:
        asyncio.run(self.publisher.publish(records))

    def configure(self, cohort: str, effective_on: date | None = None, **settings) -> None:
        value = {"type": "cohort.configured", "event_id": str(uuid4()), "cohort": cohort, "settings": settings,
                 "occurred_at": "2026-09-01T00:00:00+00:00",
                 "effective_on": effective_on.isoformat() if effective_on else None}
        self._send([Record(MEMBERS.name, f"cohort:{cohort}".encode(), json.dumps(value).encode())])

    def enrol(self, member: str, cohort: str, zone: str, enrolled_on: date) -> None:
        value = {"type": "member.enrolled", "event_id": str(uuid4()), "member_id": member, "cohort": cohort,
                 "timezone": zone, "enrolled_on": enrolled_on.isoformat(), "occurred_at": "2026-09-01T00:00:00+00:00"}
        self._send([Record(MEMBERS.name, member.encode(), json.dumps(value).encode())])

    def withdraw(self, member: str, cohort: str, on: date) -> None:
        value = {"type": "member.withdrawn", "event_id": str(uuid4()), "member_id": member, "cohort": cohort,
                 "withdrawn_on": on.isoformat(), "occurred_at": "2026-09-01T00:00:00+00:00"}
        self._send([Record(MEMBERS.name, member.encode(), json.dumps(value).encode())])

    def change_zone(self, member: str, cohort: str, zone: str, effective_on: date) -> None:
        value = {"type": "member.timezone_changed", "event_id": str(uuid4()), "member_id": member, "cohort": cohort,
                 "timezone": zone, "effective_on": effective_on.isoformat(), "occurred_at": "2026-09-01T00:00:00+00:00"}
        self._send([Record(MEMBERS.name, member.encode(), json.dumps(value).encode())])

    def event(self, member: str, at: datetime, kind: str = "login", **payload) -> None:
        value = {"type": kind, "event_id": str(uuid4()), "member_id": member, "occurred_at": at.isoformat(),
                 "received_at": at.isoformat(), "payload": payload}
        self._send([Record(ENGAGEMENT_EVENTS.name, member.encode(), json.dumps(value).encode())])

    def tick(self, now: datetime) -> None:
        value = json.dumps({"type": "clock.tick", "event_id": str(uuid4()),
                            "now": now.astimezone(timezone.utc).isoformat()}).encode()
        self._send([Record(CLOCK_TICKS.name, str(p).encode(), value, partition=p) for p in range(MEMBER_PARTITIONS)])

    def close(self) -> None:
        self.publisher.close()


@pytest.fixture
def world(broker):
    w = World(broker)
    yield w
    w.close()
