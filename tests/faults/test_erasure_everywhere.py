"""Issue 14 item 11 end to end (docs/erasure.md): a member is erased mid-study with every service running
(ingest, metrics with its ClickHouse sink on real chDB, notifier, survey) on the real broker.

Before the erasure the member has days of engagement, an inactivity alert with a nurse's call note, a
QLQ-C30 score and a free-text experience answer. Afterwards no API of any service, no line the services
logged, no restart of every service (state rebuilt from the log; the sink resumes and meets a late event of
the member) and no rebuild of ClickHouse from offset 0 returns the member's id, note or answer; the
cohort's numbers (rates, summary, other members, alert counts by status, survey responses) are unchanged.

The notifier and survey decide on ticks handed to their runtimes record by record (as their faust agents
do), so the test needs no faust worker.
"""

from __future__ import annotations

import asyncio
import io
import json
import zipfile
from collections import Counter
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from uuid import uuid4

from kafka.partitioner.default import murmur2

from contracts.topics import ENGAGEMENT_EVENTS, MEMBER_PARTITIONS
from services.common.kafka import Publisher, Record
from services.metrics import queries
from services.metrics.clickhouse import connect
from services.metrics.rebuild import rebuild
from services.metrics.tests.conftest import unique_prefix, wait_until_sunk
from testsupport.cohort import generate
from testsupport.polling import wait_until

from .services import all_services
from .test_erasure import _tables_naming

NOTE = "patient says the nausea is worse since cycle 3 (NOTE-5521)"
ANSWER = "my daughter Lin drives me to chemo every Tuesday (ANSWER-8830)"


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def _partition(member_id: str) -> int:
    return (murmur2(member_id.encode()) & 0x7FFFFFFF) % MEMBER_PARTITIONS


def _tick(client, now: datetime) -> None:
    """One clock tick on every partition, as the service's clock agent hands it over."""
    value = json.dumps({"type": "clock.tick", "event_id": str(uuid4()), "now": now.isoformat()}).encode()
    for partition in range(MEMBER_PARTITIONS):
        client.portal.call(client.app.state.runtime.on_tick_record, partition, value)


def _count(ch, table: str, cohort: str, where: str = "1") -> int:
    return ch.query(f"SELECT count() AS n FROM {table} FINAL WHERE cohort = {{c:String}} AND {where}",
                    {"c": cohort})[0]["n"]


def _numbers(clients: dict, tokens: dict, cohort: str, victim: str) -> dict:
    """What every service publishes about the cohort, the erased member's entries set apart."""
    def metrics(path: str):
        return clients["metrics"].get(f"/v1/cohorts/{cohort}/{path}", headers=tokens["admin"]).json()

    members = metrics("members")
    alerts = clients["notifier"].get(f"/v1/alerts?cohort={cohort}", headers=tokens["nurse"]).json()
    answers = clients["survey"].get(f"/v1/cohorts/{cohort}/experience", headers=tokens["nurse"]).json()
    return {
        "weekly": {d: metrics(f"weekly?denominator={d}") for d in ("followup", "enrolled")},
        "summary": metrics("summary"),
        "overview": metrics("overview"),  # headline figures: questionnaire completion, alert workload, ...
        "members": sorted(json.dumps({k: v for k, v in m.items() if k != "member_id"}, sort_keys=True)
                          for m in members),
        "alerts": sorted(Counter((a["kind"], a["status"]) for a in alerts).items()),
        "answers": sorted(json.dumps({k: r[k] for k in ("q1", "q2", "q3")}) for r in answers
                          if r["member_id"] != victim and not r["member_id"].startswith("erased-")),
        "responses": len(answers),
    }


def _answers(clients: dict, tokens: dict, cohort: str, victim: str) -> list[tuple[str, str]]:
    """Every read a client can make (path, response text): staff, admin and the member's own token."""
    me = bearer(tokens["mint"](victim))
    reads = [("metrics", f"/v1/cohorts/{cohort}/{p}", tokens["admin"])  # every metrics read of the cohort
             for p in ("weekly", "summary", "daily", "members", "daytypes", "qol", "overview")]
    reads += [("metrics", "/v1/cohorts/overview", tokens["admin"])]
    reads += [("metrics", "/v1/audit", tokens["admin"]), ("metrics", f"/v1/audit?target={victim}", tokens["admin"])]
    reads += [("notifier", p, tokens["nurse"]) for p in ("/v1/alerts", f"/v1/members/{victim}/panel",
                                                           f"/v1/members/{victim}/engagement")]
    reads += [("notifier", "/v1/members/me/today", me), ("survey", "/v1/surveys/pending", me)]
    reads += [("survey", f"/v1/cohorts/{cohort}/experience{s}", tokens["nurse"]) for s in ("", ".csv")]
    answers = [(f"{name} {path}", clients[name].get(path, headers=headers).text) for name, path, headers in reads]
    # the research export with real ids (admins only): every file of the ZIP
    export = clients["metrics"].get(f"/v1/cohorts/{cohort}/export?identified=true", headers=tokens["admin"])
    assert export.status_code == 200, export.text
    with zipfile.ZipFile(io.BytesIO(export.content)) as archive:
        answers += [(f"metrics export {name}", archive.read(name).decode()) for name in archive.namelist()]
    return answers


def _assert_nothing_answers(clients, tokens, cohort, victim, secrets) -> None:
    for where, text in _answers(clients, tokens, cohort, victim):
        assert not [s for s in secrets if s in text], f"{where} answers the erased member's data"


def test_member_erased_from_every_service(own_broker, jwt_secret, mint, tmp_path, capfd, fault_report):
    _, bootstrap = own_broker
    prefix = unique_prefix()
    g = generate(seed=11, members=5, weeks=5, cohort=f"gone-{prefix}", prefix=prefix, late_share=0.0)
    victim = g.enrolments[0]["member_id"]
    start = date.fromisoformat(g.enrolments[0]["enrolled_on"])
    quiet_from = start + timedelta(days=21)  # the victim stops logging in on day 22: an inactivity alert
    kept = [d for d in g.deliveries
            if d["member_id"] != victim or datetime.fromisoformat(d["occurred_at"]).date() < quiet_from]
    g = replace(g, deliveries=kept)
    late = max((d for d in kept if d["member_id"] == victim and d["type"] == "login"), key=lambda d: d["occurred_at"])
    decided_at = datetime.combine(start + timedelta(days=30), datetime.min.time(), timezone.utc) + timedelta(hours=12)
    tokens = {"admin": bearer(mint("ops", "admin", (g.cohort,))), "nurse": bearer(mint("n-1", "nurse", (g.cohort,))),
              "mint": mint}
    secrets = (victim, NOTE, ANSWER)
    refused = 0

    with all_services(bootstrap, jwt_secret, tmp_path, sink=True) as clients:
        ingest, notifier, survey = clients["ingest"], clients["notifier"], clients["survey"]
        assert ingest.put(f"/v1/cohorts/{g.cohort}/settings", json=g.settings | {"nurses": ["n-1"]},
                          headers=tokens["admin"]).status_code == 202
        enrolled = []
        for body in g.enrolments:
            r = ingest.post("/v1/enrollments", json=body, headers=tokens["admin"])
            assert r.status_code == 202, r.text
            enrolled.append(r.content)
        for body in g.withdrawals:
            assert ingest.post("/v1/withdrawals", json=body, headers=tokens["admin"]).status_code == 202
        for i in range(0, len(kept), 500):
            assert ingest.post("/v1/events", json=kept[i:i + 500], headers=tokens["admin"]).status_code == 202
        tick = ingest.post("/v1/admin/clock", json={"now": g.now.isoformat()}, headers=tokens["admin"])
        assert tick.status_code == 202
        ch = clients["metrics"].app.state.ch
        wait_until_sunk(ch, g, prefix, timeout_s=60)

        # The notifier folds the log; a tick on day 31 raises the victim's alert; a nurse logs a call.
        state = notifier.app.state.runtime.state
        wait_until(lambda: all(m["member_id"] in state.members for m in g.enrolments)
                   and sum(len(state.days.get(m["member_id"], {})) for m in g.enrolments) >= 5 * 20,
                   what="notifier folded the cohort")
        _tick(notifier, decided_at)
        alert = next(a for a in notifier.get("/v1/alerts", headers=tokens["nurse"]).json() if a["member_id"] == victim)
        r = notifier.post(f"/v1/alerts/{alert['alert_id']}/calls", headers=tokens["nurse"],
                          json={"outcome": "reached", "note": NOTE})
        assert r.status_code == 201 and r.json()["calls"][0]["note"] == NOTE
        assert notifier.get(f"/v1/members/{victim}/panel", headers=tokens["nurse"]).status_code == 200  # audited
        assert notifier.get(f"/v1/alerts/{alert['alert_id']}", headers=tokens["nurse"]).status_code == 200
        derived = [alert["alert_id"]]  # ids computed from the member id (uuid5): they would find the pseudonym

        # The survey schedules from the enrolments; on day 31 the T2 and experience surveys are open.
        runtime = survey.app.state.runtime
        wait_until(lambda: all(runtime.keys.get(m["member_id"]) for m in g.enrolments), what="survey folded keys")
        for body, value in zip(g.enrolments, enrolled):
            survey.portal.call(runtime.on_member_record, _partition(body["member_id"]), value)
        _tick(survey, decided_at)
        for m in [e["member_id"] for e in g.enrolments]:
            me = bearer(mint(m))
            for pending in survey.get("/v1/surveys/pending", headers=me).json():
                derived += [pending["invitation_id"]] if m == victim else []
                url = f"/v1/surveys/{pending['invitation_id']}/responses"
                body = ({"answers": {"q1": ANSWER if m == victim else f"{m} liked the walks"}}
                        if pending["instrument"] == "experience" else
                        {"items": {str(i): 3 for i in range(1, 29)} | {"29": 2, "30": 2}})
                assert survey.post(url, headers=me, json=body).status_code == 201
        # Every number is read once the sink holds all of it: invitations, scores, the call.
        invited = sum(inv.scheduled.cohort == g.cohort and inv.invited_at is not None
                      for inv in runtime.book.invitations.values())
        scored = sum(inv.scheduled.cohort == g.cohort and inv.scored is not None
                     for inv in runtime.book.invitations.values())
        wait_until(lambda: _count(ch, "survey_invitations", g.cohort) == invited
                   and _count(ch, "survey_scores", g.cohort) == scored
                   and _count(ch, "alert_events", g.cohort, "type = 'call.logged'") == 1, what="sink caught up")
        before = _numbers(clients, tokens, g.cohort, victim)
        assert any(victim in text for _, text in _answers(clients, tokens, g.cohort, victim))

        # The alert (its steps and the audited read) and the T2 score are stored under ids derived from the id.
        assert len(derived) == 3
        wait_until(lambda: len(_tables_naming(ch, derived[0])) == 2 and any(_tables_naming(ch, d) for d in derived[1:]),
                   what="alert and audit entry sunk")
        secrets += tuple(derived)

        r = ingest.delete(f"/v1/members/{victim}", headers=tokens["admin"])
        assert r.status_code == 202, r.text
        wait_until(lambda: not any(_tables_naming(ch, s) for s in (victim, *derived)) and victim not in state.members
                   and victim not in runtime.book.members, timeout_s=60, what="every service re-keyed the member")
        _assert_nothing_answers(clients, tokens, g.cohort, victim, secrets)
        assert _numbers(clients, tokens, g.cohort, victim) == before
        r = ingest.post("/v1/events", json=[dict(late, event_id=str(uuid4()))], headers=tokens["admin"])
        assert r.status_code == 202 and r.json()["accepted"] == 0 and "not_enrolled" in r.text
        refused += 1

    # An event of the member accepted before the erasure, still in flight while every service restarts.
    publisher = Publisher(bootstrap)
    in_flight = dict(late, event_id=str(uuid4()), received_at=late["occurred_at"])
    asyncio.run(publisher.publish([Record(ENGAGEMENT_EVENTS.name, victim.encode(), json.dumps(in_flight).encode())]))
    publisher.close()

    with all_services(bootstrap, jwt_secret, tmp_path, sink=True) as clients:
        ch = clients["metrics"].app.state.ch
        wait_until(lambda: ch.query("SELECT count() AS n FROM events WHERE event_id = {e:String}",
                                    {"e": in_flight["event_id"]})[0]["n"] == 1, what="in-flight event sunk")
        assert not any(_tables_naming(ch, s) for s in (victim, *derived))
        _assert_nothing_answers(clients, tokens, g.cohort, victim, secrets)
        assert _numbers(clients, tokens, g.cohort, victim) == before
        r = clients["ingest"].post("/v1/events", json=[dict(late, event_id=str(uuid4()))], headers=tokens["admin"])
        assert r.status_code == 202 and r.json()["accepted"] == 0  # the rebuilt directory refuses it too
        refused += 1
        live = {d: [w.model_dump() for w in queries.weekly(ch, g.cohort, d)] for d in ("followup", "enrolled")}

    # ClickHouse rebuilt from offset 0 applies the erasure again.
    ch = connect(f"chdb://{tmp_path / 'chdb'}")
    try:
        asyncio.run(rebuild(ch, bootstrap, idle_s=2.0))
        assert not any(_tables_naming(ch, s) for s in (victim, *derived))
        assert {d: [w.model_dump() for w in queries.weekly(ch, g.cohort, d)] for d in ("followup", "enrolled")} == live
    finally:
        ch.close()

    # The services' JSON log lines (the test client's own request lines, logger httpx, are the test's).
    logged = [line for line in capfd.readouterr().out.splitlines() if '"service"' in line and '"httpx"' not in line]
    leaked = [line for line in logged if any(s in line for s in secrets)]
    assert logged and not leaked, f"a service logged the member's data: {leaked[:3]}"
    fault_report.add("erasure", faults_injected=3, requests_refused_correctly=refused, events_lost=0,
                     duplicates_counted=0)
