"""A failed delivery is logged without the member: the dedup key and the recipient name the member
(`reminder|<member>|<day>|<slot>`), and a log outlives an erasure (docs/erasure.md), so the line
carries the notification's opaque event id, its kind and channel instead."""

import asyncio
from datetime import datetime, timezone
from uuid import uuid4

from structlog.testing import capture_logs

from contracts.notifications import NotificationRequested
from services.notifier.delivery import Deliverer

from .conftest import notifier_settings

MEMBER = "member-in-a-log-7f3a"


def test_a_failed_delivery_logs_no_member_id(jwt_secret, tmp_path):
    note = NotificationRequested(
        event_id=uuid4(), dedup_key=f"reminder|{MEMBER}|2026-09-03|12:00", kind="reminder", channel="push",
        recipient=MEMBER, cohort="c-1", title="Your check-ins today", body="Still to do today: meal.",
        data={"day": "2026-09-03"}, occurred_at=datetime(2026, 9, 3, 8, tzinfo=timezone.utc))
    deliverer = Deliverer(notifier_settings("127.0.0.1:1", jwt_secret, str(tmp_path)))  # no push gateway set
    with capture_logs() as lines:
        delivered, attempts, reason = asyncio.run(deliverer.deliver(note))
    asyncio.run(deliverer.close())
    assert (delivered, attempts) == (False, 1) and "not configured" in reason
    failed = [line for line in lines if line["event"] == "delivery_failed"]
    assert failed and failed[0]["notification"] == str(note.event_id) and failed[0]["kind"] == "reminder"
    assert MEMBER not in repr(lines)
