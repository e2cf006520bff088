import json
from uuid import uuid4

import pytest

from testsupport.broker import read_topic

from .live_ingest import LiveIngest


@pytest.fixture
def ingest(broker, jwt_secret):
    with LiveIngest(broker, jwt_secret) as live:
        yield live


@pytest.fixture
def member(ingest, mint):
    """An enrolled member and their token."""
    member_id = f"cl-{uuid4().hex[:8]}"
    ingest.enrol(mint("ops", "admin"), member_id)
    return member_id, mint(member_id, "member")


def landed_ids(bootstrap: str, event_ids, expect: int) -> list[str]:
    """event_ids of `engagement.events` records that are among `event_ids`, duplicates kept."""
    wanted = set(event_ids)
    found = []
    for record in read_topic(bootstrap, "engagement.events", expect_at_least=expect):
        body = json.loads(record.value)
        if isinstance(body, dict) and body.get("event_id") in wanted:
            found.append(body["event_id"])
    return found


def flush_all(client, attempts: int = 50):
    """flush until nothing is queued (a fresh enrolment can reach ingest's directory a moment late);
    the accepted and rejected of every round."""
    import time

    accepted, rejected = 0, []
    for _ in range(attempts):
        result = client.flush()
        accepted, rejected = accepted + result.accepted, rejected + result.rejected
        if not result.pending:
            return accepted, rejected
        time.sleep(0.2)
    raise AssertionError(f"{result.pending} events still queued")
