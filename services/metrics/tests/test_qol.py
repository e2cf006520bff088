"""GET /v1/cohorts/{cohort}/qol: survey scores sunk from `surveys`, active flags from the engagement
numbers, t-tests equal to an independent scipy computation (real broker + chDB)."""

from __future__ import annotations

import random
import time
from datetime import timedelta
from uuid import uuid4

from scipy import stats

from contracts.surveys import SCALES, SurveyScored
from contracts.topics import SURVEYS
from services.common.kafka import Publisher, Record
from testsupport.cohort import generate, truth_members

from .conftest import ingest_client, metrics_client, send_cohort, unique_prefix, wait_until_sunk


def scored(g, member: str, timepoint: str, ql2: float, rng: random.Random) -> SurveyScored:
    scores = {scale: round(rng.uniform(0, 100), 2) for scale in SCALES} | {"QL2": ql2, "FI": None}
    return SurveyScored(event_id=uuid4(), invitation_id=uuid4(), response_id=uuid4(), member_id=member,
                        cohort=g.cohort, instrument="qlq_c30", timepoint=timepoint, scores=scores, summary=None,
                        items_answered=30, occurred_at=g.now - timedelta(days=1))


async def test_qol_reproduces_an_independent_t_test(broker, jwt_secret, mint, admin_token, tmp_path):
    prefix = unique_prefix()
    g = generate(seed=11, members=12, weeks=5, cohort=f"qol-{prefix}", prefix=prefix)
    active = {m["member_id"]: m["active"] for m in truth_members(g)}
    assert set(active.values()) == {True, False}, "the seed gives both groups"
    rng = random.Random(5)
    t0 = {m: rng.uniform(30, 70) for m in active}
    change = {m: rng.uniform(0, 25) if active[m] else rng.uniform(-20, 5) for m in active}
    records = []
    first_active = next(m for m in active if active[m])
    for member in active:
        events = [scored(g, member, "T0", t0[member], rng), scored(g, member, "T2", t0[member] + change[member], rng)]
        if member == first_active:  # the score of a timepoint is its FIRST COMPLETE response in log order
            events = [*events, scored(g, member, "T2", 0.0, rng), scored(g, member, "T2", 100.0, rng)]
        for event in events:
            records.append(Record(SURVEYS.name, member.encode(), event.model_dump_json().encode()))
    publisher = Publisher(broker)
    await publisher.publish(records + records[:4])  # a few delivered twice: must not count twice
    publisher.close()

    with ingest_client(broker, jwt_secret) as ingest, \
            metrics_client(broker, jwt_secret, tmp_path / "chdb", run_stream=False) as metrics:
        send_cohort(ingest, admin_token, g)
        ch = metrics.app.state.ch
        wait_until_sunk(ch, g, prefix)
        deadline = time.monotonic() + 30
        while ch.query("SELECT count() AS n FROM survey_scores FINAL WHERE cohort = {c:String}",
                       {"c": g.cohort})[0]["n"] < 2 * len(active) + 2:
            assert time.monotonic() < deadline, "survey scores not sunk"
            time.sleep(0.2)
        nurse = {"Authorization": f"Bearer {mint('n1', 'nurse', (g.cohort,))}"}
        assert metrics.get(f"/v1/cohorts/{g.cohort}/qol").status_code == 401
        response = metrics.get(f"/v1/cohorts/{g.cohort}/qol", headers=nurse)
        assert response.status_code == 200, response.text
        ql2 = next(s for s in response.json() if s["scale"] == "QL2")
        assert ql2["active_t0_vs_t2"]["difference"] == "T2 - T0"
        assert next(s for s in response.json() if s["scale"] == "FI")["active"]["n"] == 0

    actives = [change[m] for m in active if active[m]]
    inactives = [change[m] for m in active if not active[m]]
    expected = stats.ttest_ind(actives, inactives, equal_var=True)
    assert (ql2["active"]["n"], ql2["inactive"]["n"]) == (len(actives), len(inactives))
    assert abs(ql2["active_vs_inactive"]["t"] - expected.statistic) < 1e-9
    assert ql2["active_vs_inactive"]["df"] == len(actives) + len(inactives) - 2
    paired = stats.ttest_rel([t0[m] + change[m] for m in active if active[m]], [t0[m] for m in active if active[m]])
    assert abs(ql2["active_t0_vs_t2"]["test"]["t"] - paired.statistic) < 1e-9
