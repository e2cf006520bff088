"""Member and staff API against the real broker (runtime driven record by record, as by faust)."""

import csv
import io
import json
from datetime import date, datetime, timedelta, timezone
from uuid import uuid4

import pytest

from contracts.notifications import NotificationRequested
from contracts.surveys import SurveyScored
from testsupport.broker import read_topic

from .conftest import Driver, survey_client, unique

UTC = timezone.utc
T0_DUE = datetime(2026, 11, 2, 1, tzinfo=UTC)  # 09:00 in Asia/Shanghai


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def full_items(**overrides) -> dict:
    items = {str(i): 2 for i in range(1, 29)} | {"29": 5, "30": 6}
    return {"items": items | overrides}


def invited(driver, member, cohort, zone="Asia/Shanghai", on=date(2026, 11, 2)):
    driver.enrol(member, cohort, zone, on)
    steps = driver.tick(T0_DUE)
    return [s for s in steps if s.member_id == member]


def test_pending_answer_score_resubmit_conflict(driver, client, mint, broker):
    member, cohort = unique("m"), unique("c")
    steps = invited(driver, member, cohort)
    assert [(s.type, s.timepoint) for s in steps] == [("survey.invited", "T0")]
    me = bearer(mint(member))
    pending = client.get("/v1/surveys/pending", headers=me)
    assert pending.status_code == 200
    (t0,) = pending.json()
    assert (t0["instrument"], t0["timepoint"], t0["reminders_sent"]) == ("qlq_c30", "T0", 0)
    assert t0["expires_at"] == "2026-11-09T01:00:00Z" and t0["questions"]["29"] == "answer 1-7"
    url = f"/v1/surveys/{t0['invitation_id']}/responses"

    bad = client.post(url, headers=me, json={"items": {"1": 5, "29": 8, "30": 0, "31": 1, "2": "x"}})
    assert bad.status_code == 422
    assert {tuple(e["loc"]) for e in bad.json()["detail"]} == {
        ("body", "items", "1"), ("body", "items", "29"), ("body", "items", "30"), ("body", "items", "31"),
        ("body", "items", "2")}
    assert client.post(url, headers=me, json={"answers": {"q1": "hi"}}).status_code == 422  # wrong instrument body
    assert client.post(url, headers=me, content=b"{nope").status_code == 400

    first = client.post(url, headers=me, json=full_items(**{"2": None}))
    assert first.status_code == 201, first.text
    result = first.json()
    assert result["scores"]["QL2"] == pytest.approx(75.0) and result["scores"]["PF2"] == pytest.approx(200 / 3)
    assert result["scores"]["FA"] == pytest.approx(100 / 3) and result["summary"] is not None
    again = client.post(url, headers=me, json=full_items(**{"2": None}))
    assert again.status_code == 200 and again.json() == result
    assert client.post(url, headers=me, json=full_items(**{"3": 4})).status_code == 409
    assert client.get("/v1/surveys/pending", headers=me).json() == []

    other = bearer(mint(unique("m")))
    assert client.post(url, headers=other, json=full_items()).status_code == 404
    assert client.post(f"/v1/surveys/{uuid4()}/responses", headers=me, json=full_items()).status_code == 404
    assert client.post("/v1/surveys/not-a-uuid/responses", headers=me, json=full_items()).status_code == 422
    assert client.get("/v1/surveys/pending").status_code == 401
    assert client.get("/v1/surveys/pending", headers=bearer(mint("ops", "admin"))).status_code == 403

    mine = [json.loads(r.value) for r in read_topic(broker, "surveys", expect_at_least=7) if r.key == member.encode()]
    scored = [SurveyScored.model_validate(e) for e in mine if e["type"] == "survey.scored"]
    assert len(scored) == 1 and scored[0].scores.QL2 == pytest.approx(75.0) and scored[0].items_answered == 29
    assert [e["type"] for e in mine].count("survey.responded") == 1
    notes = [NotificationRequested.model_validate_json(r.value)
             for r in read_topic(broker, "notifications.outbound", expect_at_least=1) if r.key == member.encode()]
    assert [(n.kind, n.dedup_key) for n in notes] == [("survey_invitation", f"survey|{t0['invitation_id']}|invited")]

    metrics = client.get("/metrics").text
    assert 'survey_invitations_sent_total{instrument="qlq_c30"}' in metrics
    assert 'survey_responses_total{instrument="qlq_c30"}' in metrics


def test_expired_and_cancelled_invitations_are_gone(driver, client, mint):
    late, quitter, cohort = unique("m"), unique("m"), unique("c")
    for member in (late, quitter):  # one tick for both: a second tick of the same time is a duplicate
        driver.enrol(member, cohort, "Asia/Shanghai", date(2026, 11, 2))
    driver.tick(T0_DUE)
    ids = {m: client.get("/v1/surveys/pending", headers=bearer(mint(m))).json()[0]["invitation_id"]
           for m in (late, quitter)}
    driver.withdraw(quitter, cohort, date(2026, 11, 2))  # in effect today: cancelled at once
    cancelled = client.post(f"/v1/surveys/{ids[quitter]}/responses", headers=bearer(mint(quitter)), json=full_items())
    assert cancelled.status_code == 410 and "cancelled" in cancelled.json()["detail"]

    expired_steps = driver.tick(T0_DUE + timedelta(days=7))
    assert ("survey.expired", late) in {(s.type, s.member_id) for s in expired_steps}
    gone = client.post(f"/v1/surveys/{ids[late]}/responses", headers=bearer(mint(late)), json=full_items())
    assert gone.status_code == 410 and "expired" in gone.json()["detail"]
    assert client.get("/v1/surveys/pending", headers=bearer(mint(late))).json() == []
    assert 'survey_expiries_total{instrument="qlq_c30"}' in client.get("/metrics").text


def test_experience_answers_only_for_staff_of_the_cohort_and_never_logged(driver, client, mint, capsys):
    member, cohort = unique("m"), unique("c")
    driver.enrol(member, cohort, "Europe/Berlin", date(2026, 10, 1))
    experience_day = datetime(2026, 10, 29, 8, tzinfo=UTC)  # day 29, 09:00 CET
    steps = [s for s in driver.tick(experience_day) if s.member_id == member]
    assert [(s.type, s.timepoint) for s in steps] == [
        ("survey.expired", "T0"), ("survey.expired", "T1"), ("survey.invited", "T2"), ("survey.invited", "post")]
    me = bearer(mint(member))
    (pending,) = [p for p in client.get("/v1/surveys/pending", headers=me).json() if p["timepoint"] == "post"]
    assert pending["instrument"] == "experience" and set(pending["questions"]) == {"q1", "q2", "q3"}
    url = f"/v1/surveys/{pending['invitation_id']}/responses"
    too_long = client.post(url, headers=me, json={"answers": {"q2": "x" * 2001}})
    assert too_long.status_code == 422 and too_long.json()["detail"][0]["loc"] == ["body", "answers", "q2"]
    secret = "the breathing class SECRET-7731 helped"
    answered = client.post(url, headers=me, json={"answers": {"q1": secret, "q3": "=HYPERLINK(\"x\")"}})
    assert answered.status_code == 201 and answered.json()["scores"] is None

    nurse = bearer(mint("n-1", "nurse", (cohort,)))
    rows = client.get(f"/v1/cohorts/{cohort}/experience", headers=nurse)
    assert rows.status_code == 200 and rows.headers["cache-control"] == "no-store"
    assert [(r["member_id"], r["q1"], r["q2"]) for r in rows.json()] == [(member, secret, None)]
    for url_csv in (f"/v1/cohorts/{cohort}/experience?format=csv", f"/v1/cohorts/{cohort}/experience.csv"):
        response = client.get(url_csv, headers=nurse)
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
        table = list(csv.DictReader(io.StringIO(response.text)))
        assert [(r["member_id"], r["q1"], r["q3"]) for r in table] == [(member, secret, "'=HYPERLINK(\"x\")")]
    for token in (mint("n-2", "nurse", ("other",)), mint("ops", "admin"), mint(member)):
        assert client.get(f"/v1/cohorts/{cohort}/experience", headers=bearer(token)).status_code in (403,)
    assert client.get(f"/v1/cohorts/{cohort}/experience", headers=bearer(mint("ops", "admin", (cohort,)))).status_code == 200
    assert "SECRET-7731" not in capsys.readouterr().out


def test_a_restarted_service_rebuilds_its_book_from_the_log(broker, jwt_secret, mint):
    member, cohort = unique("m"), unique("c")
    with survey_client(broker, jwt_secret) as first:
        driver = Driver(first)
        driver.wait_rebuilt()
        invited(driver, member, cohort, zone="America/New_York", on=date(2026, 11, 1))
        # T0 was due 2026-11-01 09:00 EST (14:00Z), so the T0_DUE tick (11-02 01:00Z) invited late;
        # reminder 1 is due the next day at 09:00 EST, after that late invitation: it goes out.
        steps = driver.tick(datetime(2026, 11, 2, 14, tzinfo=UTC))
        book = first.app.state.runtime.book
        state = [(i.scheduled.timepoint, i.status, i.reminders_sent) for i in book.member_invitations(member)]
        assert [(s.type, s.timepoint) for s in steps if s.member_id == member] == [("survey.reminded", "T0")], state
        (t0,) = first.get("/v1/surveys/pending", headers=bearer(mint(member))).json()
        url = f"/v1/surveys/{t0['invitation_id']}/responses"
        answer = {"items": {"29": 7, "30": 7}}
        assert first.post(url, headers=bearer(mint(member)), json=answer).status_code == 201
        before = {i: (v.status, v.reminders_sent) for i, v in first.app.state.runtime.book.invitations.items()}

    with survey_client(broker, jwt_secret) as second:
        driver = Driver(second)
        driver.wait_rebuilt()
        after = {i: (v.status, v.reminders_sent) for i, v in second.app.state.runtime.book.invitations.items()}
        assert {i: after[i] for i in before} == before
        assert second.post(url, headers=bearer(mint(member)), json=answer).status_code == 200  # identical: first result
        assert second.post(url, headers=bearer(mint(member)), json={"items": {"29": 1}}).status_code == 409
        assert [s for s in driver.tick(datetime(2026, 11, 2, 15, tzinfo=UTC)) if s.member_id == member] == []
        assert [s for s in driver.tick(datetime(2026, 11, 4, 14, tzinfo=UTC)) if s.member_id == member] == []  # answered
        book = second.app.state.runtime.book
        t1 = [s for s in driver.tick(datetime(2026, 11, 14, 14, tzinfo=UTC)) if s.member_id == member]
        state = [(i.scheduled.timepoint, i.status, i.reminders_sent) for i in book.member_invitations(member)]
        assert [(s.type, s.timepoint) for s in t1] == [("survey.invited", "T1")], state


def test_probes_metrics_and_openapi(client, driver):
    import re

    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready"}
    metrics = client.get("/metrics").text
    for series in ("survey_invitations_sent_total", "survey_reminders_sent_total", "survey_expiries_total",
                   "survey_responses_total"):
        for instrument in ("qlq_c30", "experience"):
            assert f'{series}{{instrument="{instrument}"}}' in metrics
    spec = client.get("/openapi.json").json()
    assert {"/v1/surveys/pending", "/v1/surveys/{invitation_id}/responses", "/v1/cohorts/{cohort}/experience",
            "/v1/cohorts/{cohort}/experience.csv"} <= set(spec["paths"])
    refs = set(re.findall(r"#/components/schemas/([A-Za-z0-9_]+)", json.dumps(spec)))
    assert refs and refs <= set(spec["components"]["schemas"]) and "QlqC30Items" in refs
    assert client.get("/docs").status_code == 404  # only with API_DOCS=1 (docs/security.md: Swagger UI is on a CDN)


def test_bad_or_foreign_stream_records_are_skipped_not_fatal(driver):
    runtime, portal = driver.runtime, driver.client.portal
    assert portal.call(runtime.on_member_record, 0, b"{not json") == []
    assert portal.call(runtime.on_member_record, 0, b'{"type": "member.enrolled", "member_id": "x"}') == []
    assert portal.call(runtime.on_member_record, 0, json.dumps({
        "type": "cohort.configured", "event_id": str(uuid4()), "cohort": "c-1", "settings": {},
        "occurred_at": "2026-11-01T00:00:00+00:00"}).encode()) == []
    assert portal.call(runtime.on_tick_record, 0, b'{"type": "clock.tick", "now": "yesterday"}') == []
    member = unique("m")
    assert [s.type for s in invited(driver, member, unique("c"))] == ["survey.invited"]  # still working


def test_a_future_withdrawal_waits_for_its_date_and_a_re_enrolment_continues_the_schedule(driver, client, mint,
                                                                                             broker):
    """Defect 8 and issue 13's re-enrolment, on the real broker (docs/timeline.md)."""
    member, cohort = unique("m"), unique("c")
    invited(driver, member, cohort)  # T0 sent on 2026-11-02 09:00 in Shanghai
    assert driver.withdraw(member, cohort, date(2026, 11, 4)) == []  # dated the 4th: nothing happens yet
    assert [p["timepoint"] for p in client.get("/v1/surveys/pending", headers=bearer(mint(member))).json()] == ["T0"]
    steps = [(s.type, s.timepoint) for s in driver.tick(datetime(2026, 11, 3, 1, tzinfo=UTC)) if s.member_id == member]
    assert steps == [("survey.reminded", "T0")]  # the 3rd is still a follow-up day
    steps = [(s.type, s.timepoint) for s in driver.tick(datetime(2026, 11, 3, 16, tzinfo=UTC)) if s.member_id == member]
    assert steps == [("survey.cancelled", "T0")]  # Shanghai's midnight of the 4th
    assert driver.enrol(member, cohort, "Asia/Shanghai", date(2026, 11, 6)) == []  # re-enrolled: T0 not again
    steps = [(s.type, s.timepoint) for s in driver.tick(datetime(2026, 11, 15, 1, tzinfo=UTC)) if s.member_id == member]
    assert steps == [("survey.invited", "T1")]  # day 14 counted from the first enrolment
    mine = [json.loads(r.value) for r in read_topic(broker, "surveys") if r.key == member.encode()]
    assert sorted(r["timepoint"] for r in mine if r["type"] == "survey.scheduled") == ["T0", "T1", "T2", "post"]
    assert [r["type"] for r in mine if r["timepoint"] == "T0"] == [
        "survey.scheduled", "survey.invited", "survey.reminded", "survey.cancelled"]
