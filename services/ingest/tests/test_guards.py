"""Ingest guards against the real broker: enrolment conflicts, re-enrolment, zone changes, settings
effective dates, events of members never enrolled, too-old events and the per-member event limit
(docs/services/ingest.md)."""

import json
from uuid import uuid4

import pytest

from testsupport.broker import read_topic

from .conftest import RECENT, enrol, ingest_client, new_member


def login(member, occurred_at=RECENT):
    return {"event_id": str(uuid4()), "type": "login", "member_id": member, "occurred_at": occurred_at}


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def member_records(broker, member):
    return [json.loads(r.value) for r in read_topic(broker, "members") if r.key == member.encode()]


@pytest.fixture
def admin(mint):
    return bearer(mint("ops", "admin"))


@pytest.fixture
def quiet(own_broker, jwt_secret):
    """An ingest on a broker of its own: these tests move the clock."""
    _, bootstrap = own_broker
    with ingest_client(bootstrap, jwt_secret) as client:
        yield client, bootstrap


def test_a_repeated_enrolment_is_202_when_identical_and_409_naming_the_field_otherwise(client, broker, admin):
    member = new_member()
    body = {"member_id": member, "cohort": "c-g", "timezone": "Asia/Shanghai", "enrolled_on": "2026-11-02"}
    first = client.post("/v1/enrollments", headers=admin, json=body)
    again = client.post("/v1/enrollments", headers=admin, json=body)
    assert first.status_code == again.status_code == 202
    assert again.json()["event_id"] == first.json()["event_id"], "no change: the recorded enrolment is answered"
    for field, value in (("timezone", "Europe/Berlin"), ("enrolled_on", "2026-11-03"), ("cohort", "c-other")):
        conflict = client.post("/v1/enrollments", headers=admin, json=body | {field: value})
        assert conflict.status_code == 409, field
        assert conflict.json()["detail"][0]["loc"] == ["body", field]
        assert "already enrolled" in conflict.json()["detail"][0]["msg"]
    assert [r["type"] for r in member_records(broker, member)] == ["member.enrolled"]


def test_a_withdrawn_member_re_enrols_in_the_same_cohort_only(client, broker, admin):
    member = new_member()
    enrol(client, admin["Authorization"].split()[1], member, cohort="c-g", enrolled_on="2026-11-01")
    withdrawal = {"member_id": member, "cohort": "c-g", "withdrawn_on": "2026-11-10"}
    assert client.post("/v1/withdrawals", headers=admin, json=withdrawal).status_code == 202
    other = client.post("/v1/enrollments", headers=admin, json={
        "member_id": member, "cohort": "c-elsewhere", "timezone": "UTC", "enrolled_on": "2026-11-20"})
    assert other.status_code == 409 and other.json()["detail"][0]["loc"] == ["body", "cohort"]
    early = client.post("/v1/enrollments", headers=admin, json={
        "member_id": member, "cohort": "c-g", "timezone": "UTC", "enrolled_on": "2026-11-05"})
    assert early.status_code == 409 and early.json()["detail"][0]["loc"] == ["body", "enrolled_on"]
    again = client.post("/v1/enrollments", headers=admin, json={
        "member_id": member, "cohort": "c-g", "timezone": "UTC", "enrolled_on": "2026-11-20"})
    assert again.status_code == 202, again.text
    assert [r["type"] for r in member_records(broker, member)] == ["member.enrolled", "member.withdrawn",
                                                                    "member.enrolled"]


def test_zone_change_checks_member_zone_and_date_then_writes_member_timezone_changed(quiet, admin):
    client, bootstrap = quiet
    member = new_member()
    enrol(client, admin["Authorization"].split()[1], member, cohort="c-z", timezone="Asia/Shanghai")
    url = f"/v1/members/{member}/timezone"
    # No tick yet: any date.
    assert client.put(url, headers=admin, json={"timezone": "Europe/Berlin", "effective_on": "2026-01-01"}
                      ).status_code == 202
    unknown_zone = client.put(url, headers=admin, json={"timezone": "Mars/Base", "effective_on": "2026-12-01"})
    assert unknown_zone.status_code == 422 and unknown_zone.json()["detail"][0]["loc"] == ["body", "timezone"]
    unknown_member = client.put("/v1/members/m-nobody/timezone", headers=admin,
                                json={"timezone": "UTC", "effective_on": "2026-12-01"})
    assert unknown_member.status_code == 404 and unknown_member.json()["detail"][0]["loc"] == ["path", "member_id"]
    # 20:00 UTC is 21:00 on the 10th in Berlin (the member's zone since January), the 11th in Shanghai.
    assert client.post("/v1/admin/clock", headers=admin, json={"now": "2026-11-10T20:00:00Z"}).status_code == 202
    late = client.put(url, headers=admin, json={"timezone": "Asia/Tokyo", "effective_on": "2026-11-09"})
    assert late.status_code == 422 and late.json()["detail"][0]["loc"] == ["body", "effective_on"]
    assert "2026-11-10" in late.json()["detail"][0]["msg"]  # the member lives in Berlin since January
    ok = client.put(url, headers=admin, json={"timezone": "Asia/Tokyo", "effective_on": "2026-11-10"})
    assert ok.status_code == 202, ok.text
    written = [r for r in member_records(bootstrap, member) if r["type"] == "member.timezone_changed"]
    assert [(r["timezone"], r["effective_on"], r["cohort"]) for r in written] == [
        ("Europe/Berlin", "2026-01-01", "c-z"), ("Asia/Tokyo", "2026-11-10", "c-z")]
    # Now in Tokyo it is the 11th: the 10th is in the past.
    again = client.put(url, headers=admin, json={"timezone": "UTC", "effective_on": "2026-11-10"})
    assert again.status_code == 422


def test_settings_effective_on_defaults_to_the_ticks_utc_date_and_may_not_be_earlier(quiet, admin):
    client, bootstrap = quiet
    cohort = f"c-{uuid4().hex[:6]}"
    url = f"/v1/cohorts/{cohort}/settings"
    assert client.put(url, headers=admin, json={}).json()["effective_on"] is None  # no tick: from the beginning
    assert client.post("/v1/admin/clock", headers=admin, json={"now": "2026-11-10T23:30:00Z"}).status_code == 202
    assert client.put(url, headers=admin, json={}).json()["effective_on"] == "2026-11-10"
    early = client.put(url, headers=admin, params={"effective_on": "2026-11-09"}, json={})
    assert early.status_code == 422 and early.json()["detail"][0]["loc"] == ["query", "effective_on"]
    later = client.put(url, headers=admin, params={"effective_on": "2026-12-01"}, json={"tasks": ["meal"]})
    assert later.status_code == 202 and later.json()["effective_on"] == "2026-12-01"
    written = [json.loads(r.value) for r in read_topic(bootstrap, "members") if r.key == f"cohort:{cohort}".encode()]
    assert [r["effective_on"] for r in written] == [None, "2026-11-10", "2026-12-01"]
    bad = client.put(url, headers=admin, params={"effective_on": "soon"}, json={})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["query", "effective_on"]


def test_events_of_a_member_never_enrolled_are_refused_per_event_until_the_enrolment(client, broker, admin, mint):
    member = new_member()
    token = bearer(mint(member))
    early = [login(member), login(member)]
    response = client.post("/v1/events", headers=token, json=early)
    assert response.status_code == 202
    assert response.json()["accepted"] == 0
    assert [e["errors"][0]["type"] for e in response.json()["rejected"]] == ["not_enrolled"] * 2
    assert response.json()["rejected"][0]["errors"][0]["loc"] == ["member_id"]
    enrol(client, admin["Authorization"].split()[1], member)
    retried = client.post("/v1/events", headers=token, json=early)
    assert retried.json() == {"accepted": 2, "rejected": []}
    ids = {e["event_id"] for e in early}
    landed = [r for r in read_topic(broker, "engagement.events") if json.loads(r.value).get("event_id") in ids]
    assert len(landed) == 2, "each event once: the refused delivery wrote nothing"
    # A batch mixing an enrolled and an unknown member (admin backfill): the unknown one is refused.
    mixed = client.post("/v1/events", headers=admin, json=[login(member), login(new_member())])
    assert mixed.json()["accepted"] == 1 and mixed.json()["rejected"][0]["index"] == 1


def test_events_more_than_30_days_before_the_latest_tick_are_refused(quiet, admin, mint):
    client, _ = quiet
    member = new_member()
    enrol(client, admin["Authorization"].split()[1], member, enrolled_on="2026-09-01")
    assert client.post("/v1/admin/clock", headers=admin, json={"now": "2026-11-10T12:00:00Z"}).status_code == 202
    batch = [login(member, "2026-10-11T11:59:00Z"), login(member, "2026-10-11T12:00:00Z")]
    response = client.post("/v1/events", headers=bearer(mint(member)), json=batch)
    assert response.status_code == 202
    assert response.json()["accepted"] == 1
    [refused] = response.json()["rejected"]
    assert refused["index"] == 0 and refused["errors"][0]["loc"] == ["occurred_at"]
    assert refused["errors"][0]["type"] == "too_old"
    only_old = client.post("/v1/events", headers=bearer(mint(member)), json=[login(member, "2026-09-02T00:00:00Z")])
    assert only_old.status_code == 422


def test_each_member_is_limited_in_events_not_requests(broker, jwt_secret, mint):
    with ingest_client(broker, jwt_secret, member_event_limit="10/hour") as client:
        admin = mint("ops", "admin")
        member, other = new_member(), new_member()
        enrol(client, admin, member, other)
        token = bearer(mint(member))
        assert client.post("/v1/events", headers=token, json=[login(member) for _ in range(6)]).status_code == 202
        refused = [login(member) for _ in range(6)]
        limited = client.post("/v1/events", headers=token, json=refused)
        assert limited.status_code == 429
        assert 1 <= int(limited.headers["retry-after"]) <= 3600
        assert "accepted" not in limited.json()
        assert client.post("/v1/events", headers=token, json=[login(member) for _ in range(4)]).status_code == 202
        assert client.post("/v1/events", headers=token, json=[login(member)]).status_code == 429
        assert client.post("/v1/events", headers=bearer(mint(other)), json=[login(other)]).status_code == 202
        ids = {e["event_id"] for e in refused}
        assert not [r for r in read_topic(broker, "engagement.events") if json.loads(r.value).get("event_id") in ids]


def test_a_restarted_ingest_knows_every_enrolment_from_the_log(broker, jwt_secret, mint):
    admin = mint("ops", "admin")
    member = new_member()
    with ingest_client(broker, jwt_secret) as first:
        enrol(first, admin, member, timezone="Asia/Shanghai")
    with ingest_client(broker, jwt_secret) as second:
        assert second.post("/v1/events", headers=bearer(mint(member)), json=login(member)).json()["accepted"] == 1
        conflict = second.post("/v1/enrollments", headers=bearer(admin), json={
            "member_id": member, "cohort": "c-ingest", "timezone": "UTC", "enrolled_on": "2026-11-01"})
        assert conflict.status_code == 409 and conflict.json()["detail"][0]["loc"] == ["body", "timezone"]
