"""Call notes under erasure (docs/erasure.md), on the real broker: a note is written to `alerts`
encrypted with the member's data key (the log never holds it in clear), reads back in clear for the
nurse, and once the member is erased no API answers the id, the alert id or the note — the alert stays
under a pseudonym with its status (open-alert counts unchanged), its note `[erased]`, and gets no new
decision; also after a rebuild from the log."""

import json
from datetime import date, datetime, time, timedelta
from uuid import uuid4
from zoneinfo import ZoneInfo

from contracts.erasure import MemberErased
from contracts.topics import MEMBER_ERASURES, MEMBER_KEYS
from services.common.kafka import Record
from services.common.member_keys import ERASED_TEXT, new_member_key
from testsupport.broker import read_topic
from testsupport.polling import wait_until

from .conftest import World, notifier_client, notifier_settings, unique

ENROLLED = date(2026, 9, 1)
SH = ZoneInfo("Asia/Shanghai")
NOTE = "reports nausea since cycle 2; call back after 6pm"


def test_call_note_is_encrypted_on_the_log_and_unreadable_after_erasure(own_broker, jwt_secret, mint, tmp_path):
    # A broker of its own: the erased member's alert gets a random id at every rebuild, which tests that
    # compare a rebuilt state with the live one on the shared broker must not meet.
    _, broker = own_broker
    world = World(broker)
    try:
        _scenario(broker, world, jwt_secret, mint, tmp_path)
    finally:
        world.close()


def _scenario(broker, world, jwt_secret, mint, tmp_path) -> None:
    cohort, member = unique("c"), unique("m-note")
    world.configure(cohort, nurses=["n-a"], lead_nurse="n-a")
    world._send([Record(MEMBER_KEYS.name, member.encode(), new_member_key(member).model_dump_json().encode())])
    world.enrol(member, cohort, "Asia/Shanghai", ENROLLED)
    world.event(member, datetime.combine(ENROLLED, time(9), tzinfo=SH))
    settings = notifier_settings(broker, jwt_secret, str(tmp_path))
    nurse = {"Authorization": f"Bearer {mint('n-a', 'nurse', (cohort,))}"}

    with notifier_client(settings) as client:
        runtime = client.app.state.runtime
        client.portal.call(runtime.rebuilt.wait)
        wait_until(lambda: member in runtime.state.members and runtime.keys.get(member), what="member and key")
        value = json.dumps({"type": "clock.tick", "event_id": "00000000-0000-4000-8000-000000000000",
                            "now": datetime.combine(ENROLLED + timedelta(days=3), time(0), tzinfo=SH).isoformat()})
        for p in range(6):
            client.portal.call(runtime.on_tick_record, p, value.encode())
        alert = next(a for a in client.get("/v1/alerts", headers=nurse).json() if a["member_id"] == member)
        call = client.post(
            f"/v1/alerts/{alert['alert_id']}/calls", headers=nurse, json={"outcome": "reached", "note": NOTE}
        )
        assert call.status_code == 201 and call.json()["calls"][0]["note"] == NOTE

        logged = [json.loads(r.value) for r in read_topic(broker, "alerts", expect_at_least=1)
                  if r.key == member.encode() and b"call.logged" in r.value]
        assert logged and logged[0]["note"].startswith("enc:v1:") and NOTE not in json.dumps(logged)

        member_token = {"Authorization": f"Bearer {mint(member, 'member')}"}
        assert client.get("/v1/members/me/today", headers=member_token).status_code == 200
        open_before = _open_counts(client, nurse)

        erased = MemberErased(event_id=uuid4(), member_id=member, cohort=cohort, occurred_at=datetime.now(SH))
        world._send([Record(MEMBER_KEYS.name, member.encode(), None),
                     Record(MEMBER_ERASURES.name, member.encode(), erased.model_dump_json().encode())])
        wait_until(lambda: runtime.keys.get(member) is None and member not in runtime.state.members,
                   what="key destroyed, member re-keyed")
        renamed = _assert_forgotten(client, nurse, member_token, member, alert["alert_id"], open_before)
        again = client.post(f"/v1/alerts/{renamed['alert_id']}/calls", headers=nurse,
                            json={"outcome": "reached", "note": "x"})
        assert again.status_code == 409 and member not in again.text
        # No decision for the pseudonym: a later tick raises, escalates or reminds nothing about it.
        value = json.dumps({"type": "clock.tick", "event_id": "00000000-0000-4000-8000-000000000001",
                            "now": datetime.combine(ENROLLED + timedelta(days=9), time(0), tzinfo=SH).isoformat()})
        for p in range(6):
            client.portal.call(runtime.on_tick_record, p, value.encode())
        after = [a for a in client.get("/v1/alerts", headers=nurse).json() if a["member_id"] == renamed["member_id"]]
        assert [a | {"member": None} for a in after] == [renamed | {"member": None}]  # "member": days up to today

    with notifier_client(settings) as client:  # a new instance rebuilds from the log: the erasure applies again
        runtime = client.app.state.runtime
        client.portal.call(runtime.rebuilt.wait)
        _assert_forgotten(client, nurse, member_token, member, alert["alert_id"], open_before)
        assert runtime.keys.get(member) is None


def _open_counts(client, nurse) -> dict:
    alerts = client.get("/v1/alerts", headers=nurse).json()
    return {status: sum(a["status"] == status for a in alerts) for status in ("open", "acknowledged", "resolved")}


def _assert_forgotten(client, nurse, member_token, member: str, alert_id: str, open_before: dict) -> dict:
    """No API answers the member's id, alert id or note; the alert stays, under one pseudonym, same status."""
    alerts = client.get("/v1/alerts", headers=nurse)
    assert member not in alerts.text and alert_id not in alerts.text and NOTE not in alerts.text
    assert _open_counts(client, nurse) == open_before
    renamed = [a for a in alerts.json() if a["member_id"].startswith("erased-")]
    assert len(renamed) == 1 and renamed[0]["calls"][0]["note"] == ERASED_TEXT
    assert renamed[0]["member"]["recent_days"], "the day facts stay under the pseudonym"
    assert client.get(f"/v1/alerts/{alert_id}", headers=nurse).status_code == 404
    for path in (f"/v1/members/{member}/panel", f"/v1/members/{member}/engagement"):
        r = client.get(path, headers=nurse)
        assert r.status_code == 404 and NOTE not in r.text
    assert client.get("/v1/members/me/today", headers=member_token).status_code == 404
    return renamed[0]
