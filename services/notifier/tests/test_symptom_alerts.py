"""Symptom alerts on the real broker (runtime driven tick by tick): a simulated cohort answers the
QLQ-C30 at T0, T1 and T2; the answers are scored by the survey service's scoring and published as
`survey.scored` on `surveys`. Members whose answers cross a threshold, or worsen by 10 points, get one
symptom alert per episode (not one per timepoint), it escalates like any alert, and a later better
score resolves it. Inactivity alerts of the same members are a separate kind and do not interfere."""

import json
from datetime import date, datetime, time, timedelta
from uuid import uuid4
from zoneinfo import ZoneInfo

from contracts.surveys import ScaleScores, SurveyScored
from contracts.topics import SURVEYS
from services.common.kafka import Record
from services.survey.scoring import score
from testsupport.broker import read_topic
from testsupport.polling import wait_until

from .conftest import notifier_client, notifier_settings, unique

ENROLLED = date(2026, 7, 1)
BE = "Europe/Berlin"
TIMEPOINT_DAYS = {"T0": 1, "T1": 14, "T2": 28}
# Items 1-28 answered 1 ("not at all"), items 29-30 answered 6: every scale well within its threshold.
WELL = {**{i: 1 for i in range(1, 29)}, 29: 6, 30: 6}
PAIN = {9: 3, 19: 3}                 # PA 66.7 > 25
FATIGUE = {10: 3, 12: 3, 18: 3}      # FA 66.7 > 39
SLIGHTLY_LESS_ABLE = {1: 2, 2: 2}    # PF2 100 → 86.7: above 83, but a drop of 13.3 points


def local(day: int, hour: int = 0) -> datetime:
    return datetime.combine(ENROLLED + timedelta(days=day - 1), time(hour), tzinfo=ZoneInfo(BE))


def scored_record(member: str, cohort: str, timepoint: str, changes: dict) -> Record:
    result = score({**WELL, **changes})
    event = SurveyScored(event_id=uuid4(), invitation_id=uuid4(), member_id=member, cohort=cohort,
                         instrument="qlq_c30", timepoint=timepoint, occurred_at=local(TIMEPOINT_DAYS[timepoint], 10),
                         response_id=uuid4(), scores=ScaleScores(**result.scores), summary=result.summary,
                         items_answered=result.items_answered)
    return Record(SURVEYS.name, member.encode(), event.model_dump_json().encode())


def test_symptom_alerts_once_per_episode_resolved_by_a_better_score(broker, world, jwt_secret, mint, tmp_path):
    cohort = unique("c")
    # Follow-up ends after day 30, so these members stay quiet under other tests' ticks on the shared broker.
    world.configure(
        cohort, nurses=["n-a", "n-b"], lead_nurse="n-a", ends_on=(ENROLLED + timedelta(days=29)).isoformat()
    )
    m = {k: unique(f"m-{k}") for k in ("well", "fatigue", "pain", "worse")}
    answers = {  # timepoint → answer changes from WELL
        "well": {"T0": {}, "T1": {}, "T2": {}},
        "fatigue": {"T0": FATIGUE, "T1": FATIGUE, "T2": {}},       # one episode over two timepoints
        "pain": {"T0": {}, "T1": PAIN, "T2": {}},
        "worse": {"T0": {}, "T1": SLIGHTLY_LESS_ABLE, "T2": {}},  # the worsening rule alone
    }
    for member in m.values():
        world.enrol(member, cohort, BE, ENROLLED)
    world._send([scored_record(m[k], cohort, tp, changes) for k, tps in answers.items() for tp, changes in tps.items()])

    with notifier_client(notifier_settings(broker, jwt_secret, str(tmp_path))) as client:
        runtime = client.app.state.runtime
        client.portal.call(runtime.rebuilt.wait)
        wait_until(lambda: all(len(runtime.state.scored.get(x, {})) == 3 for x in m.values()), what="scores folded")
        for d in range(1, 30):
            for hour in (0, 12):
                value = json.dumps({"type": "clock.tick", "event_id": str(uuid4()),
                                    "now": local(d, hour).isoformat()}).encode()
                for p in range(6):
                    client.portal.call(runtime.on_tick_record, p, value)
        console = runtime.state.queue.alerts
        nurse = {"Authorization": f"Bearer {mint('n-a', 'nurse', (cohort,))}"}
        listed = client.get("/v1/alerts", headers=nurse, params={"kind": "symptom"})
        assert listed.status_code == 200 and {a["kind"] for a in listed.json()} == {"symptom"}
        assert sorted(a["member_id"] for a in listed.json()) == sorted([m["fatigue"], m["pain"], m["worse"]])
        response = client.get(f"/v1/members/{m['pain']}/panel", headers=nurse)  # the nurse's view before a call
        assert response.status_code == 200, response.text
        panel = response.json()
        assert len(panel["recent_days"]) == 29 and [q["timepoint"] for q in panel["questionnaires"]] == [
            "T0",
            "T1",
            "T2",
        ]
        assert round(panel["questionnaires"][1]["scores"]["PA"], 1) == 66.7
        assert [a["status"] for a in panel["alerts"] if a["kind"] == "symptom"] == ["resolved"]
        assert client.get(f"/v1/members/{m['pain']}/panel", headers=nurse, params={"days": 0}).status_code == 422

    steps = [json.loads(r.value) for r in read_topic(broker, "alerts", expect_at_least=9)
             if r.key.decode() in m.values()]
    symptom_ids = {s["alert_id"] for s in steps if s["type"] == "alert.raised" and s["kind"] == "symptom"}
    name = {v: k for k, v in m.items()}
    got = sorted((datetime.fromisoformat(s["occurred_at"]), name[s["member_id"]], s["type"], s.get("timepoint"),
                  s.get("reason")) for s in steps if s["alert_id"] in symptom_ids)
    assert got == [
        (local(1, 12), "fatigue", "alert.raised", "T0", None),
        (local(2, 12), "fatigue", "alert.escalated", None, None),
        (local(14, 12), "pain", "alert.raised", "T1", None),
        (local(14, 12), "worse", "alert.raised", "T1", None),
        (local(15, 12), "pain", "alert.escalated", None, None),
        (local(15, 12), "worse", "alert.escalated", None, None),
        (local(28, 12), "fatigue", "alert.resolved", None, "scores_improved"),  # T1 was still bad: same episode
        (local(28, 12), "pain", "alert.resolved", None, "scores_improved"),
        (local(28, 12), "worse", "alert.resolved", None, "scores_improved"),
    ]
    scales = {
        name[s["member_id"]]: [(f["scale"], round(f["value"], 1), f["reason"], f.get("previous")) for f in s["scales"]]
        for s in steps
        if s["type"] == "alert.raised" and s["kind"] == "symptom"
    }
    assert scales == {"fatigue": [("FA", 66.7, "threshold", None)], "pain": [("PA", 66.7, "threshold", None)],
                      "worse": [("PF2", 86.7, "worsening", 100.0)]}
    # The same members are inactive (no logins): those alerts are another kind, open beside the symptom ones.
    assert {s["kind"] for s in steps if s["type"] == "alert.raised"} == {"inactivity", "symptom"}
    # The call queue (what the console shows) carries kind, timepoint and the scales with their values.
    shown = [v.public() for v in console.values() if str(v.alert_id) in symptom_ids]
    assert sorted((name[v["member_id"]], v["kind"], v["timepoint"], v["status"], [f["scale"] for f in v["scales"]])
                  for v in shown) == [("fatigue", "symptom", "T0", "resolved", ["FA"]),
                                      ("pain", "symptom", "T1", "resolved", ["PA"]),
                                      ("worse", "symptom", "T1", "resolved", ["PF2"])]
