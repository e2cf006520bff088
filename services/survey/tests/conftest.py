"""Survey test helpers: the app against the real broker, and a driver for its runtime."""

from __future__ import annotations

import json
from datetime import date, datetime, timezone
from uuid import uuid4

import pytest
from fastapi.testclient import TestClient
from kafka.partitioner.default import murmur2

from contracts.topics import MEMBER_PARTITIONS
from services.survey.app import create_app
from services.survey.settings import SurveySettings


def partition_of(member_id: str, partitions: int = MEMBER_PARTITIONS) -> int:
    """The partition a keyed record of `member_id` lands on (Kafka's default murmur2 partitioner)."""
    return (murmur2(member_id.encode()) & 0x7FFFFFFF) % partitions


def survey_client(bootstrap: str, jwt_secret: str, run_stream: bool = False, **overrides) -> TestClient:
    settings = SurveySettings(kafka_bootstrap=bootstrap, jwt_secret=jwt_secret, rebuild_idle_s=0.3, **overrides)
    return TestClient(create_app(settings, run_stream=run_stream), raise_server_exceptions=False)


class Driver:
    """Feeds member events and ticks to the runtime exactly as the faust agents do (one record at a time)."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.runtime = client.app.state.runtime

    def wait_rebuilt(self) -> None:
        self.client.portal.call(self.runtime.rebuilt.wait)

    def enrol(self, member: str, cohort: str, zone: str, enrolled_on: date):
        value = json.dumps({"type": "member.enrolled", "event_id": str(uuid4()), "member_id": member, "cohort": cohort,
                            "timezone": zone, "enrolled_on": enrolled_on.isoformat(),
                            "occurred_at": "2026-10-01T00:00:00+00:00"}).encode()
        return self.client.portal.call(self.runtime.on_member_record, partition_of(member), value)

    def withdraw(self, member: str, cohort: str, on: date):
        value = json.dumps({"type": "member.withdrawn", "event_id": str(uuid4()), "member_id": member, "cohort": cohort,
                            "withdrawn_on": on.isoformat(), "occurred_at": "2026-10-01T00:00:00+00:00"}).encode()
        return self.client.portal.call(self.runtime.on_member_record, partition_of(member), value)

    def tick(self, now: datetime) -> list:
        value = json.dumps({"type": "clock.tick", "event_id": str(uuid4()),
                            "now": now.astimezone(timezone.utc).isoformat()}).encode()
        out = []
        for partition in range(MEMBER_PARTITIONS):
            out += self.client.portal.call(self.runtime.on_tick_record, partition, value)
        return out


@pytest.fixture
def client(broker, jwt_secret):
    with survey_client(broker, jwt_secret) as c:
        yield c


@pytest.fixture
def driver(client):
    d = Driver(client)
    d.wait_rebuilt()
    return d


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid4().hex[:8]}"
