import time
from datetime import datetime, timedelta, timezone
from uuid import uuid4

import pytest
from fastapi.testclient import TestClient

from services.ingest.app import create_app
from services.ingest.settings import IngestSettings


class ReadyClient(TestClient):
    """Enters like a TestClient, then waits until /readyz says the member directory is read."""

    def __enter__(self) -> "ReadyClient":
        client = super().__enter__()
        deadline = time.monotonic() + 30
        while client.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline, "ingest never became ready"
            time.sleep(0.05)
        return client


def ingest_client(bootstrap: str, jwt_secret: str, **overrides) -> ReadyClient:
    settings = IngestSettings(kafka_bootstrap=bootstrap, jwt_secret=jwt_secret, **overrides)
    return ReadyClient(create_app(settings), raise_server_exceptions=False)


def enrol(client: TestClient, admin_token: str, *members: str, cohort: str = "c-ingest", timezone: str = "UTC",
          enrolled_on: str = "2026-11-01") -> None:
    for member in members:
        response = client.post("/v1/enrollments", headers={"Authorization": f"Bearer {admin_token}"}, json={
            "member_id": member, "cohort": cohort, "timezone": timezone, "enrolled_on": enrolled_on})
        assert response.status_code == 202, response.text


def new_member(prefix: str = "m") -> str:
    return f"{prefix}-{uuid4().hex[:8]}"


@pytest.fixture
def client(broker, jwt_secret):
    with ingest_client(broker, jwt_secret) as c:
        yield c


# Events of the last hour: other tests on the shared broker move the clock (ingest refuses events more
# than 30 days before the latest tick), so fixed dates would age out of the accepted window.
RECENT = (datetime.now(timezone.utc) - timedelta(hours=1)).isoformat()
