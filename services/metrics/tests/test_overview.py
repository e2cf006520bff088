"""GET /v1/cohorts/overview and /v1/cohorts/{c}/overview on the real broker + chDB: the headline
figures equal the published numbers (/summary, /members) and the questionnaires sent; each token
sees only its cohorts; no member id in the answer."""

from __future__ import annotations

from testsupport.polling import wait_until

from .conftest import ingest_client, metrics_client, send_cohort, unique_prefix, wait_until_sunk
from .overview_world import surveyed_cohort, surveys_sunk


def test_overview_equals_the_published_numbers(broker, jwt_secret, mint, admin_token, tmp_path):
    prefix = unique_prefix()
    world = surveyed_cohort(broker, f"ov-{prefix}", prefix)
    g, other = world.g, f"ov-other-{prefix}"
    with ingest_client(broker, jwt_secret) as ingest, \
            metrics_client(broker, jwt_secret, tmp_path / "chdb", run_stream=False) as metrics:
        send_cohort(ingest, admin_token, g)
        other_settings = ingest.put(f"/v1/cohorts/{other}/settings", json={"intervention_weeks": 4},
                                    headers={"Authorization": f"Bearer {admin_token}"})
        assert other_settings.status_code == 202, other_settings.text
        ch = metrics.app.state.ch
        wait_until_sunk(ch, g, prefix)
        wait_until(lambda: surveys_sunk(ch, world), what="survey invitations and scores sunk")
        wait_until(lambda: ch.query("SELECT count() AS n FROM cohorts WHERE cohort = {c:String}",
                                    {"c": other})[0]["n"], what="second cohort sunk")

        def get(path: str, role: str, cohorts: tuple[str, ...] = ()):
            return metrics.get(path, headers={"Authorization": f"Bearer {mint('u-1', role, cohorts)}"})

        assert metrics.get("/v1/cohorts/overview").status_code == 401
        assert get("/v1/cohorts/overview", "member").status_code == 403
        assert get(f"/v1/cohorts/{other}/overview", "nurse", (g.cohort,)).status_code == 403
        assert get("/v1/cohorts/overview?limit=0", "admin").status_code == 422

        nurse_view = get("/v1/cohorts/overview", "nurse", (g.cohort,)).json()
        assert [c["cohort"] for c in nurse_view] == [g.cohort]
        researcher_view = get("/v1/cohorts/overview", "researcher", (g.cohort, other)).json()
        assert [c["cohort"] for c in researcher_view] == sorted([g.cohort, other])
        admin_view = {c["cohort"]: c for c in get("/v1/cohorts/overview?limit=200", "admin").json()}
        assert admin_view[g.cohort] == nurse_view[0]
        assert admin_view[other]["members"] == 0 and admin_view[other]["active_share"] is None
        assert get(f"/v1/cohorts/{g.cohort}/overview", "researcher", (g.cohort,)).json() == nurse_view[0]

        row = nurse_view[0]
        summary = get(f"/v1/cohorts/{g.cohort}/summary", "nurse", (g.cohort,)).json()
        members = get(f"/v1/cohorts/{g.cohort}/members", "nurse", (g.cohort,)).json()

    assert not any(m in str(nurse_view) for m in world.active), "a member id in the overview"
    assert row["intervention"] == next(s for s in summary["stages"] if s["denominator"] == "followup")
    assert row["members"] == len(g.enrolments) == len(members)
    assert row["withdrawn"] == len(g.withdrawals) == 1
    assert row["attrition_rate"] == 100 * 1 / len(g.enrolments)
    active = sum(m["activity"] == "active" for m in members)
    inactive = sum(m["activity"] == "inactive" for m in members)
    assert (row["active"], row["inactive"], row["pending"]) == (active, inactive, 0)
    assert row["active_share"] == 100 * active / (active + inactive)
    assert row["follow_up_week"] == max((d.day_number - 1) // 7 + 1 for d in g.plan)
    assert [(q["timepoint"], q["invited"], q["completed"]) for q in row["questionnaires"]] == \
        [(t, world.invited[t], world.completed[t]) for t in ("T0", "T1", "T2")]
    assert row["questionnaires"][1]["completion_rate"] == 100 * world.completed["T1"] / world.invited["T1"]
