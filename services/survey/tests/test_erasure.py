"""Survey free text and state under erasure (docs/erasure.md), on the real broker: an experience answer is
written to `surveys` encrypted with the member's data key and reads in clear for staff; once the member
is erased no API answers the id, the invitation id or the answer — the response stays under a pseudonym
(response counts unchanged), its text `[erased]`, and takes no further step; also after a rebuild."""

import asyncio
from datetime import date, datetime, timezone
from uuid import uuid4

from contracts.erasure import MemberErased
from contracts.topics import MEMBER_ERASURES, MEMBER_KEYS
from services.common.kafka import Publisher, Record
from services.common.member_keys import ERASED_TEXT, new_member_key
from testsupport.broker import read_topic
from testsupport.polling import wait_until

from .conftest import Driver, survey_client, unique

UTC = timezone.utc
SECRET = "the breathing class SECRET-4471 helped me sleep"
EXPERIENCE_DAY = datetime(2026, 10, 29, 8, tzinfo=UTC)  # day 29, 09:00 in Berlin


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def publish(bootstrap: str, records: list[Record]) -> None:
    publisher = Publisher(bootstrap)
    try:
        asyncio.run(publisher.publish(records))
    finally:
        publisher.close()


def test_free_text_is_sealed_and_the_member_re_keyed_on_erasure(own_broker, jwt_secret, mint):
    # A broker of its own: tests that compare a rebuilt book with the live one on the shared broker would
    # meet this erasure's random invitation ids, new at every rebuild.
    _, broker = own_broker
    member, other, cohort = unique("m-erase"), unique("m-stay"), unique("c")
    publish(broker, [Record(MEMBER_KEYS.name, m.encode(), new_member_key(m).model_dump_json().encode())
                     for m in (member, other)])
    nurse = bearer(mint("n-1", "nurse", (cohort,)))
    with survey_client(broker, jwt_secret) as client:
        driver = Driver(client)
        driver.wait_rebuilt()
        runtime = client.app.state.runtime
        wait_until(lambda: runtime.keys.get(member) and runtime.keys.get(other), what="data keys folded")
        for m in (member, other):
            driver.enrol(m, cohort, "Europe/Berlin", date(2026, 10, 1))
        driver.tick(EXPERIENCE_DAY)
        urls = {}
        for m in (member, other):
            (pending,) = [p for p in client.get("/v1/surveys/pending", headers=bearer(mint(m))).json()
                          if p["timepoint"] == "post"]
            urls[m] = f"/v1/surveys/{pending['invitation_id']}/responses"
            body = {"answers": {"q1": SECRET, "q2": f"{m} wrote this"}}
            assert client.post(urls[m], headers=bearer(mint(m)), json=body).status_code == 201
            assert client.post(urls[m], headers=bearer(mint(m)), json=body).status_code == 200  # same, in clear
            assert client.post(urls[m], headers=bearer(mint(m)), json={"answers": {"q1": "x"}}).status_code == 409

        responded = [r.value for r in read_topic(broker, "surveys", expect_at_least=1)
                     if r.key == member.encode() and b"survey.responded" in r.value]
        assert responded and b"enc:v1:" in responded[0] and b"SECRET-4471" not in responded[0]
        rows = client.get(f"/v1/cohorts/{cohort}/experience", headers=nurse).json()
        assert sorted((r["member_id"], r["q1"]) for r in rows) == sorted((m, SECRET) for m in (member, other))
        invitation = urls[member].split("/")[3]

        erased = MemberErased(event_id=uuid4(), member_id=member, cohort=cohort, occurred_at=EXPERIENCE_DAY)
        publish(broker, [Record(MEMBER_KEYS.name, member.encode(), None),
                         Record(MEMBER_ERASURES.name, member.encode(), erased.model_dump_json().encode())])
        wait_until(lambda: member not in runtime.book.members, what="member re-keyed")
        _assert_forgotten(client, nurse, mint, member, other, cohort, invitation)
        assert client.post(urls[member], headers=bearer(mint(member)), json={"answers": {"q1": "again"}}
                           ).status_code == 404
        # The pseudonym's invitations take no step: a tick past every expiry publishes nothing for it.
        steps = driver.tick(datetime(2026, 12, 31, tzinfo=UTC))
        assert not [s for s in steps if s.member_id.startswith("erased-") or s.member_id == member]

    with survey_client(broker, jwt_secret) as client:  # rebuilt from the log: the erasure applies again
        Driver(client).wait_rebuilt()
        _assert_forgotten(client, nurse, mint, member, other, cohort, invitation)


def _assert_forgotten(client, nurse, mint, member, other, cohort, invitation) -> None:
    rows = client.get(f"/v1/cohorts/{cohort}/experience", headers=nurse)
    assert member not in rows.text and invitation not in rows.text
    by_member = {r["member_id"]: r for r in rows.json()}
    assert by_member[other]["q1"] == SECRET and len(by_member) == 2
    (renamed,) = [r for m, r in by_member.items() if m.startswith("erased-")]
    assert renamed["q1"] == renamed["q2"] == ERASED_TEXT and renamed["q3"] is None
    assert client.get("/v1/surveys/pending", headers=bearer(mint(member))).json() == []
    book = client.app.state.runtime.book
    assert not book.member_invitations(member) and member not in book.members
