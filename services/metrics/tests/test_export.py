"""The research export (docs/export.md) on the real broker and chDB: a generated cohort (duplicates,
late events, a withdrawal, the tick mid-study so that days are partial and members pending), QLQ-C30
scores and alerts with call notes. From the researcher's CSV files alone, pandas recomputes every
number of /weekly and /daily (both denominators), /members and /qol; pseudonyms are new per export;
no free text leaves; the access rules and the audit record hold."""

from __future__ import annotations

import asyncio
import io
import json
import math
import random
import socket
import uuid
import zipfile
from datetime import date, datetime, time, timedelta, timezone

import pandas as pd
import pytest
from scipy import stats
from typer.testing import CliRunner

from contracts.alerts import AlertAcknowledged, AlertRaised, CallLogged
from contracts.surveys import SCALES, SurveyScored
from contracts.topics import ALERTS, AUDIT, SURVEYS
from services.common.audit import AuditTrail
from services.common.kafka import Publisher, Record
from services.metrics.export.__main__ import cli as export_cli
from services.metrics.export.dictionary import FILES
from testsupport.broker import read_topic
from testsupport.cohort import generate
from testsupport.polling import wait_until

from .conftest import ingest_client, metrics_client, send_cohort, unique_prefix, wait_until_sunk

NOTE = "NOTE-MARKER-private-call-note"
ANALYSED = (*SCALES, "summary")


def _scores(g, member: str, timepoint: str, rng: random.Random, when: datetime) -> Record:
    values = {scale: round(rng.uniform(0, 100), 2) for scale in SCALES} | {"FI": None}
    scored = SurveyScored(event_id=uuid.uuid4(), invitation_id=uuid.uuid4(), response_id=uuid.uuid4(),
                          member_id=member, cohort=g.cohort, instrument="qlq_c30", timepoint=timepoint,
                          scores=values, summary=round(rng.uniform(0, 100), 2), items_answered=30, occurred_at=when)
    return Record(SURVEYS.name, member.encode(), scored.model_dump_json().encode())


def _side_records(g, now: datetime) -> list[Record]:
    """T0 and T2 of every member (a member's T2 answered twice: the first counts), and two alerts with
    call notes."""
    rng = random.Random(3)
    members = [e["member_id"] for e in g.enrolments]
    records = []
    for member in members:
        records += [_scores(g, member, "T0", rng, now - timedelta(days=20)),
                    _scores(g, member, "T2", rng, now - timedelta(days=1))]
    records.append(_scores(g, members[0], "T2", rng, now))  # a second T2 response: not the score
    alert = uuid.uuid4()
    base = {"alert_id": alert, "member_id": members[0], "cohort": g.cohort}
    steps = [
        AlertRaised(event_id=uuid.uuid4(), occurred_at=now - timedelta(days=2), rule="intervention_inactive",
                    since=now.date() - timedelta(days=5), through=now.date() - timedelta(days=3), missed_days=3,
                    window_days=3, last_login_on=None, assigned_to="n-1", **base),
        AlertAcknowledged(event_id=uuid.uuid4(), occurred_at=now - timedelta(days=1), by="n-1", **base),
        CallLogged(event_id=uuid.uuid4(), occurred_at=now - timedelta(hours=20), by="n-1", outcome="reached",
                   note=NOTE, **base),
        AlertRaised(event_id=uuid.uuid4(), alert_id=uuid.uuid4(), member_id=members[1], cohort=g.cohort,
                    occurred_at=now - timedelta(days=1), kind="symptom", rule="symptom_scores",
                    since=now.date(), through=now.date(), missed_days=0, window_days=1, timepoint="T2",
                    last_login_on=None, assigned_to=None),
    ]
    return records + [Record(ALERTS.name, s.member_id.encode(), s.model_dump_json().encode()) for s in steps]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _unzip(content: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _csv(files: dict[str, bytes], name: str) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(files[name]), keep_default_na=False, na_values=[""])


def _rates(group: pd.DataFrame) -> dict:
    done = group[group.complete == 1]
    n, logged = len(done), int(done.logged_in.sum())
    part, comp = int(done.participated.sum()), int(done.completed.sum())
    return {"partial": bool((group.complete == 0).any()), "member_days": n, "logged_in_days": logged,
            "participated_days": part, "completed_days": comp,
            "login_rate": 100 * logged / n if n else 0.0, "participation_rate": 100 * part / n if n else 0.0,
            "completion_rate": 100 * comp / n if n else 0.0}


def _counted(days: pd.DataFrame, denominator: str) -> pd.DataFrame:
    return days[days.in_followup == 1] if denominator == "followup" else days[days.in_enrolled == 1]


def _weekly(days: pd.DataFrame, denominator: str) -> list[dict]:
    return [{"week": int(w), "stage": g.stage.iloc[0], "denominator": denominator, **_rates(g)}
            for w, g in _counted(days, denominator).groupby("week")]


def _daily(days: pd.DataFrame, denominator: str) -> list[dict]:
    return [{"day": d, "denominator": denominator, **_rates(g)} for d, g in _counted(days, denominator).groupby("day")]


def _members(files: dict[str, bytes]) -> list[dict]:
    days, cohort = _csv(files, "member_days.csv"), _csv(files, "cohort.csv").iloc[0]
    out = []
    for m in _csv(files, "members.csv").itertuples():
        followed = days[(days.member == m.member) & (days.in_followup == 1)].sort_values("day")
        window = followed.head(28)
        window = window[window.complete == 1]
        n, logged = len(window), int(window.logged_in.sum())
        last = m.follow_up_last_day if isinstance(m.follow_up_last_day, str) else None
        ongoing = (bool((followed.complete == 0).any()) or last is None or followed.empty
                   or followed.day.max() < last)
        if n < 28:
            activity = "pending" if ongoing else "insufficient"
        else:
            activity = "active" if logged / n >= cohort.active_login_threshold else "inactive"
        out.append({"member": m.member, "timezone": m.timezone, "enrolled_on": m.enrolled_on,
                    "withdrawn_on": m.withdrawn_on if isinstance(m.withdrawn_on, str) else None,
                    "follow_up_days": int((followed.complete == 1).sum()), "window_days": n, "logged_in_days": logged,
                    "participated_days": int(window.participated.sum()), "completed_days": int(window.completed.sum()),
                    "login_rate": 100 * logged / n if n else 0.0,
                    "participation_rate": 100 * int(window.participated.sum()) / n if n else 0.0,
                    "completion_rate": 100 * int(window.completed.sum()) / n if n else 0.0,
                    "activity": activity, "active": None if activity in ("pending", "insufficient")
                    else activity == "active"})
    return out


def _mean_sd(values: pd.Series) -> tuple:
    return (float(values.mean()) if len(values) else None, float(values.std(ddof=1)) if len(values) > 1 else None)


def _qol(files: dict[str, bytes], members: list[dict]) -> dict[str, dict]:
    scores = _csv(files, "qlq_c30.csv")
    judged = pd.Series({m["member"]: m["active"] for m in members if m["active"] is not None}, name="active")
    t0 = scores[scores.timepoint == "T0"].set_index("member")
    t2 = scores[scores.timepoint == "T2"].set_index("member")
    out = {}
    for scale in ANALYSED:
        both = pd.DataFrame({"t0": t0[scale], "t2": t2[scale]}).join(judged, how="inner").dropna(subset=["t0", "t2"])
        change = both.t2 - both.t0
        active, inactive = change[both.active == True], change[both.active == False]  # noqa: E712
        pairs = both[both.active == True]  # noqa: E712
        out[scale] = {"active": (len(active), *_mean_sd(active)), "inactive": (len(inactive), *_mean_sd(inactive)),
                      "between": stats.ttest_ind(active, inactive, equal_var=True) if len(active) > 1 and
                      len(inactive) > 1 else None,
                      "paired": (len(pairs), *_mean_sd(pairs.t0), *_mean_sd(pairs.t2)),
                      "paired_t": stats.ttest_rel(pairs.t2, pairs.t0) if len(pairs) > 1 else None}
    return out


def _same(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return a == pytest.approx(b, rel=1e-9, abs=1e-9)


@pytest.mark.clickhouse
def test_export_recomputes_every_published_number(own_broker, jwt_secret, mint, admin_token, tmp_path):
    _, broker = own_broker  # its own clock: the tick lands mid-study, so rows are partial and members pending
    prefix = unique_prefix()
    g = generate(seed=5, members=12, weeks=5, cohort=f"exp-{prefix}", prefix=prefix)
    g.now = datetime.combine(date.fromisoformat(g.enrolments[0]["enrolled_on"]) + timedelta(days=29), time(12),
                             timezone.utc)
    side = _side_records(g, g.now)
    with ingest_client(broker, jwt_secret) as ingest, \
            metrics_client(broker, jwt_secret, tmp_path / "chdb", run_stream=False) as metrics:
        send_cohort(ingest, admin_token, g)
        publisher = Publisher(broker)
        asyncio.run(publisher.publish(side))
        publisher.close()
        ch = metrics.app.state.ch
        wait_until_sunk(ch, g, prefix)
        wait_until(lambda: ch.query("SELECT (SELECT count() FROM alert_events WHERE cohort = {c:String}) AS a, "
                                    "(SELECT count() FROM survey_scores WHERE cohort = {c:String}) AS s",
                                    {"c": g.cohort})[0] == {"a": 4, "s": 25}, 90, "scores and alerts sunk")

        researcher = {"Authorization": f"Bearer {mint('r-1', 'researcher', (g.cohort,))}"}
        url = f"/v1/cohorts/{g.cohort}/export"
        response = metrics.get(url, headers=researcher)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/zip"
        assert response.headers["cache-control"] == "no-store"
        files = _unzip(response.content)
        second = _unzip(metrics.get(url, headers=researcher).content)

        def api(path: str, **params):
            r = metrics.get(f"/v1/cohorts/{g.cohort}/{path}", params=params,
                            headers={"Authorization": f"Bearer {admin_token}"})
            assert r.status_code == 200, r.text
            return r.json()

        published = {d: (api("weekly", denominator=d), api("daily", denominator=d)) for d in ("followup", "enrolled")}
        published_members, published_qol = api("members"), api("qol")
        identified = _unzip(metrics.get(url, params={"identified": "true"},
                                        headers={"Authorization": f"Bearer {admin_token}"}).content)
        accessed = wait_until(lambda: ch.query(
            "SELECT resource, actor, returned FROM staff_access FINAL WHERE cohort = {c:String} ORDER BY occurred_at",
            {"c": g.cohort}) if ch.query("SELECT count() AS n FROM staff_access FINAL WHERE cohort = {c:String}",
                                         {"c": g.cohort})[0]["n"] >= 4 else None, 60, "exports audited")
        access = {
            "no token": metrics.get(url).status_code,
            "nurse": metrics.get(url, headers={"Authorization": f"Bearer {mint('n-1', 'nurse', (g.cohort,))}"}
                                 ).status_code,
            "other researcher": metrics.get(url, headers={
                "Authorization": f"Bearer {mint('r-2', 'researcher', ('other',))}"}).status_code,
            "researcher identified": metrics.get(url, params={"identified": "true"}, headers=researcher).status_code,
            "unknown cohort": metrics.get("/v1/cohorts/nope/export",
                                          headers={"Authorization": f"Bearer {admin_token}"}).status_code,
            "bad identified": metrics.get(url, params={"identified": "maybe"}, headers=researcher).status_code,
        }
        # fail closed: no audit record, no data
        metrics.app.state.audit_trail = AuditTrail(f"127.0.0.1:{_free_port()}", "metrics")  # nothing listens
        closed = metrics.get(url, headers=researcher)
        access["audit down"] = closed.status_code
        assert closed.json() == {"detail": "audit trail unavailable; retry later"}

    # the CLI: same code path, same numbers (chDB is one process: run once the service has stopped)
    out = tmp_path / "cli.zip"
    cli = CliRunner().invoke(export_cli, [g.cohort, "--out", str(out), "--actor", "ops", "--clickhouse-url",
                                          f"chdb://{tmp_path / 'chdb'}", "--kafka-bootstrap", broker])
    assert cli.exit_code == 0, cli.output[-2000:]
    audit = [json.loads(r.value) for r in read_topic(broker, AUDIT.name, expect_at_least=5)]
    assert {"actor": "ops", "resource": "research_export", "cohort": g.cohort, "returned": 12} in [
        {k: a[k] for k in ("actor", "resource", "cohort", "returned")} for a in audit]  # the CLI's record
    from_cli = _unzip(out.read_bytes())
    assert from_cli["weekly.csv"] == files["weekly.csv"] and set(from_cli) == set(files)
    assert set(_csv(from_cli, "members.csv").member).isdisjoint(set(_csv(files, "members.csv").member))

    # every file, every column, in the data dictionary; README holds the definitions
    assert set(files) == {name for name, _, _ in FILES} | {"data_dictionary.csv", "README.md"}
    dictionary = _csv(files, "data_dictionary.csv")
    for name, _, columns in FILES:
        assert list(_csv(files, name).columns) == [c.name for c in columns]
        assert list(dictionary[dictionary.file == name].column) == [c.name for c in columns]
    assert dictionary.meaning.str.len().min() >= 10 and b"denominator" in files["README.md"]

    days = _csv(files, "member_days.csv")
    assert {0, 1} <= set(days.complete) and {0, 1} <= set(days.in_followup)  # partial days and a withdrawal
    for denominator, (weekly, daily) in published.items():
        assert _weekly(days, denominator) == [{k: w[k] for k in _weekly(days, denominator)[0]} for w in weekly]
        assert _daily(days, denominator) == [{k: d[k] for k in _daily(days, denominator)[0]} for d in daily]
        exported = _csv(files, "weekly.csv")
        exported = exported[exported.denominator == denominator].to_dict("records")
        assert [{**w, "partial": int(w["partial"])} for w in weekly] == [{k: e[k] for k in w} for e, w in
                                                                         zip(exported, weekly)]
    assert any(w["partial"] for w in published["followup"][0])

    members = _members(files)
    assert {m["activity"] for m in published_members} >= {"pending"}
    keyless = [{k: v for k, v in m.items() if k != "member_id"} for m in published_members]
    recomputed = [{k: v for k, v in m.items() if k != "member"} for m in members]
    assert sorted(map(repr, recomputed)) == sorted(map(repr, keyless))

    qol = _qol(files, members)
    for published_scale in published_qol:
        mine = qol[published_scale["scale"]]
        assert mine["active"][0] == published_scale["active"]["n"] and mine["inactive"][0] == \
            published_scale["inactive"]["n"]
        for group in ("active", "inactive"):
            assert _same(mine[group][1], published_scale[group]["mean"])
            assert _same(mine[group][2], published_scale[group]["sd"])
        between = published_scale["active_vs_inactive"]
        assert (between is None) == (mine["between"] is None)
        if between:
            assert _same(mine["between"].statistic, between["t"]) and _same(mine["between"].pvalue, between["p"])
        paired = published_scale["active_t0_vs_t2"]
        assert mine["paired"][0] == paired["n"]
        assert all(_same(a, paired[k]) for a, k in zip(mine["paired"][1:], ("t0_mean", "t0_sd", "t2_mean", "t2_sd")))
        if paired["test"]:
            assert _same(mine["paired_t"].statistic, paired["test"]["t"])
    assert any(s["active_vs_inactive"] for s in published_qol), "the seed gives both groups"

    # pseudonyms: new per export, consistent across files, never containing a member id; ids only identified
    member_ids = [e["member_id"] for e in g.enrolments]
    pseudonyms = set(_csv(files, "members.csv").member)
    assert set(days.member) == pseudonyms and len(pseudonyms) == len(member_ids)
    assert pseudonyms.isdisjoint(set(_csv(second, "members.csv").member))
    everything = b"".join(files.values())
    assert not any(m.encode() in everything for m in member_ids)
    assert set(_csv(identified, "members.csv").member) == set(member_ids)
    alerts, calls = _csv(files, "alerts.csv"), _csv(files, "calls.csv")
    assert len(alerts) == 2 and list(calls.outcome) == ["reached"] and set(calls.alert) <= set(alerts.alert)
    assert set(alerts.member) <= pseudonyms and set(alerts.kind) == {"inactivity", "symptom"}
    # no free text for anyone: the call note is in no file, not even an admin's identified export
    assert NOTE.encode() not in everything and NOTE.encode() not in b"".join(identified.values())

    assert access == {"no token": 401, "nurse": 403, "other researcher": 403, "researcher identified": 403,
                      "unknown cohort": 404, "bad identified": 422, "audit down": 503}
    assert [(a["resource"], a["actor"], a["returned"]) for a in accessed][:1] == [("research_export", "r-1", 12)]
    assert {a["resource"] for a in accessed} == {"research_export", "research_export_identified", "member_list"}
    assert not math.isnan(days.actions.sum())
