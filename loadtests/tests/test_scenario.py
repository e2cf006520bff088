"""Cohort generation, the comparison and the replay loop — pure, no broker."""

from __future__ import annotations

from datetime import date, datetime

from contracts.events import parse_client_event
from loadtests.scenario import rates_cohort, study_cohort
from loadtests.simulate import MAX_BATCH, compare, ground_truth, paper_differences, replay
from loadtests.study import study_design
from testsupport.cohort import truth_weekly


def test_study_cohort_realises_the_designed_counts():
    sim = study_cohort()
    weekly = truth_weekly(sim.cohort)
    design = study_design()
    assert [(w["member_days"], w["logged_in_days"], w["participated_days"], w["completed_days"]) for w in weekly] == \
        [(w.member_days, w.logged_in, w.participated, w.completed) for w in design.weeks]
    assert len(sim.cohort.enrolments) == 30 and sim.cohort.withdrawals == []  # 210 member-days every week
    assert paper_differences(sim, weekly) == []  # the study rule holds for the ground truth
    broken = [dict(w, logged_in_days=w["logged_in_days"] + 1) if w["week"] == 1 else w for w in weekly]
    assert [(week, rate) for week, rate, _, _ in paper_differences(sim, broken)] == [(1, "login_rate")]
    members = ground_truth(sim)["members"]
    assert 0 < sum(bool(m["active"]) for m in members) < 30
    for _, event in sim.schedule[:200]:
        parse_client_event(event, datetime.now().astimezone())  # every event is a valid client event


def test_rates_cohort_has_the_awkward_deliveries():
    sim = rates_cohort(members=30, weeks=6, seed=3, withdrawal_share=0.3)
    g = sim.cohort
    assert len(g.deliveries) > g.unique_events  # duplicate deliveries
    late = [e for at, e in sim.schedule if (at - datetime.fromisoformat(e["occurred_at"])).total_seconds() > 3600]
    assert late  # uploads hours or days after they happened
    withdrawn = {w["member_id"]: date.fromisoformat(w["withdrawn_on"]) for w in g.withdrawals}
    assert withdrawn
    after = [e for e in g.deliveries if e["member_id"] in withdrawn
             and datetime.fromisoformat(e["occurred_at"]).date() >= withdrawn[e["member_id"]]]
    assert after  # the app keeps sending after a withdrawal; those days are not in the plan
    assert all(d.day < withdrawn[d.member_id] for d in g.plan if d.member_id in withdrawn)
    assert {e["timezone"] for e in g.enrolments} == {"Asia/Shanghai", "America/New_York", "Europe/Berlin"}
    working = [d.logged_in for d in g.plan if d.working]
    assert 0 < sum(working) < len(working)
    assert sim.schedule == sorted(sim.schedule, key=lambda x: x[0])


def test_compare_finds_every_kind_of_difference():
    sim = rates_cohort(members=8, weeks=3, seed=5)
    truth = ground_truth(sim)
    assert compare(truth, {k: [dict(r) for r in v] for k, v in truth.items()}) == []
    changed = {k: [dict(r) for r in v] for k, v in truth.items()}
    changed["weekly"][1]["logged_in_days"] += 1
    changed["members"].pop()
    changed["daytypes"][0]["actions_sd"] *= 1.001
    diffs = compare(truth, changed)
    assert {(d.endpoint, d.field) for d in diffs} == {("weekly", "logged_in_days"), ("members", "*"), ("daytypes", "actions_sd")}
    assert compare(truth, {"weekly": None, "members": truth["members"], "daytypes": truth["daytypes"]})[0].endpoint == "weekly"


class Recorder:
    """Stands in for the platform's HTTP API (unit test of the replay order only)."""

    def __init__(self):
        self.calls = []

    def send(self, method, url, body, member=None):
        self.calls.append((url, body))

    def ingest(self, path):
        return path

    def events(self, batch, member_tokens):
        for i in range(0, len(batch), MAX_BATCH):
            self.calls.append(("/v1/events", batch[i:i + MAX_BATCH]))

    def tick(self, now):
        self.calls.append(("/v1/admin/clock", now))


def test_replay_sends_everything_before_its_tick_and_withdrawals_on_their_day():
    sim = rates_cohort(members=40, weeks=4, seed=9, withdrawal_share=0.4)
    recorder = Recorder()
    sent = replay(sim, recorder, tick_hours=6)
    assert sent == len(sim.schedule)
    urls = [u for u, _ in recorder.calls]
    assert urls[0] == f"/v1/cohorts/{sim.cohort.cohort}/settings"
    assert urls[1:41] == ["/v1/enrollments"] * 40
    clock, delivered, withdrawn, before_tick = None, [], [], []
    for url, body in recorder.calls:
        if url == "/v1/admin/clock":  # everything sent since the last tick was due by this one
            assert clock is None or body > clock
            clock = body
            assert all(date.fromisoformat(w["withdrawn_on"]) <= clock.date() for w in before_tick)
            before_tick = []
        elif url == "/v1/events":
            assert 1 <= len(body) <= MAX_BATCH
            delivered += body
        elif url == "/v1/withdrawals":
            assert clock is None or date.fromisoformat(body["withdrawn_on"]) > clock.date()  # not earlier than due
            before_tick.append(body)
            withdrawn.append(body)
    assert delivered == [e for _, e in sim.schedule]
    assert clock == max(sim.end, sim.schedule[-1][0])
    assert sorted(w["member_id"] for w in withdrawn) == sorted(w["member_id"] for w in sim.cohort.withdrawals)
