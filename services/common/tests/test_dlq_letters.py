"""The dead-letter tool's pure part (what is shown, what a replay sends) and the notifier's replay rule."""

from __future__ import annotations

from datetime import datetime, timezone
from uuid import uuid4

from contracts.daily import EventDeadLetter
from contracts.notifications import NotificationDeadLetter, NotificationRequested, replay_id
from services.common.dlq import cli
from services.common.dlq import letters as dl
from services.notifier.rules import delivery_due

NOW = datetime(2026, 9, 3, 8, tzinfo=timezone.utc)
SECRET = "Your appointment with Dr. Who about the scan"


def _dead(key: str = "reminder|m-7|2026-09-03|08:00") -> bytes:
    note = NotificationRequested(event_id=uuid4(), dedup_key=key, kind="reminder", channel="push", recipient="m-7",
                                 cohort="c-1", title=SECRET, body=SECRET, data={"x": SECRET}, occurred_at=NOW)
    return NotificationDeadLetter(event_id=uuid4(), dedup_key=key, reason="HTTP 503", attempts=5, request=note,
                                  occurred_at=NOW).model_dump_json().encode()


def test_a_letter_shows_ids_and_reason_never_the_text():
    letter = dl.parse("notifications.dlq", 2, 17, b"m-7", _dead())
    summary = letter.summary()
    assert (
        summary["member"] == "m-7" and summary["reason"] == "HTTP 503" and summary["where"] == "notifications.dlq/2/17"
    )
    assert SECRET not in repr(letter) and SECRET not in str(summary)


def test_an_engagement_letter_hides_the_payload_and_is_not_replayable():
    event = {
        "type": "checkin",
        "event_id": str(uuid4()),
        "member_id": "m-8",
        "payload": {"task": "meal", "note": SECRET},
    }
    value = EventDeadLetter(event_id=uuid4(), member_id="m-8", reason="unknown_member", detail="no enrolment",
                            event=event, dead_lettered_at=NOW).model_dump_json().encode()
    letter = dl.parse("engagement.events.dlq", 0, 3, b"m-8", value)
    assert letter.kind == "checkin" and SECRET not in str(letter.summary())
    assert dl.plan([letter], dl.OutboundHistory()) == [(letter, "not replayable")]


def test_an_unreadable_record_is_listed_not_fatal():
    letter = dl.parse("notifications.dlq", 0, 9, b"m-9", b"{not json")
    assert not letter.readable and "unreadable" in letter.reason
    assert dl.plan([letter], dl.OutboundHistory())[0][1] == "not replayable"


def test_replay_plan_skips_replayed_and_delivered_letters():
    first, second, third = (dl.parse("notifications.dlq", 0, n, b"m-7", _dead(f"k{n}")) for n in range(3))
    history = dl.OutboundHistory()
    history.fold(dl.replay_of(first, "ops", NOW).model_dump_json().encode())
    history.fold(b'{"type": "notification.delivered", "dedup_key": "k1"}')
    history.fold(b"garbage")
    assert [a for _, a in dl.plan([first, second, third], history)] == ["already replayed", "delivered since", "replay"]
    replay = dl.replay_of(third, "ops", NOW)
    assert replay.event_id == replay_id(third.event_id) == dl.replay_of(third, "other", NOW).event_id


def test_select_by_id_prefix_or_place():
    a, b = dl.parse("notifications.dlq", 0, 1, b"m", _dead()), dl.parse("notifications.dlq", 0, 2, b"m", _dead())
    assert dl.select([a, b], [str(a.event_id)[:8], "notifications.dlq/0/2"]) == ([a, b], [])
    assert dl.select([a, b], ["", "zzz"])[1][1] == "zzz"


def test_notifier_rule_a_replay_overrides_the_dedup_once_and_never_after_a_delivery():
    replay = uuid4()
    assert delivery_due(None) and not delivery_due("failed") and not delivery_due("delivered")
    assert delivery_due("failed", replay) and delivery_due(None, replay)
    assert not delivery_due("failed", replay, {replay})
    assert not delivery_due("delivered", replay)


def test_the_table_never_cuts_an_id_even_beside_a_long_member_id_and_reason():
    # Seen in a full-suite run: an engagement-events letter with a long member id and an unbroken reason
    # squeezed every column, the notification letter's id was folded over two lines and `list` lost it.
    at = datetime(2026, 9, 3, 8, tzinfo=timezone.utc)
    short = dl.Letter("notifications.dlq", 0, 0, uuid4(), "m-abcdefgh", "ConnectError: All connection attempts failed",
                      2, at, "reminder", "push", "k")
    wide = dl.Letter("engagement.events.dlq", 3, 1234, uuid4(), "member-" + "0123456789abcdef" * 4,
                     "member_not_enrolled:" + "x" * 120, None, at, "questionnaire_submitted")
    console = cli._console()
    with console.capture() as captured:
        console.print(cli._table([(short, "pending"), (wide, "-")], "dead letters"))
    lines = captured.get().splitlines()
    for letter in (short, wide):
        assert any(str(letter.event_id) in line and letter.member in line and letter.where in line for line in lines)
