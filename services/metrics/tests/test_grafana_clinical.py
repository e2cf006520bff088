"""The provisioned Grafana clinical dashboard: every panel query runs on chDB against a cohort with
questionnaires and alerts (real broker) and shows the metrics API's numbers (/overview, /qol)."""

from __future__ import annotations

import json

import pytest

from services.metrics.settings import REPO
from testsupport.polling import wait_until

from .conftest import ingest_client, metrics_client, send_cohort, unique_prefix, wait_until_sunk
from .overview_world import surveyed_cohort, surveys_sunk

DASHBOARD = REPO / "deploy" / "grafana" / "dashboards" / "carecircle-clinical.json"


def _sql(panel: dict, cohort: str) -> str:
    (target,) = panel["targets"]
    return target["rawSql"].replace("${cohorts:singlequote}", f"'{cohort}'").replace("${cohort}", cohort)


def test_clinical_panels_show_the_api_numbers(broker, jwt_secret, mint, admin_token, tmp_path):
    dashboard = json.loads(DASHBOARD.read_text())
    panels = {p["title"]: p for p in dashboard["panels"]}
    prefix = unique_prefix()
    world = surveyed_cohort(broker, f"gc-{prefix}", prefix, seed=23)
    g = world.g
    nurse = {"Authorization": f"Bearer {mint('n', 'nurse', (g.cohort,))}"}
    with ingest_client(broker, jwt_secret) as ingest:
        send_cohort(ingest, admin_token, g)
    with metrics_client(broker, jwt_secret, tmp_path / "chdb", run_stream=False, rollup_interval_s=0.2) as metrics:
        ch = metrics.app.state.ch
        wait_until_sunk(ch, g, prefix)
        wait_until(lambda: surveys_sunk(ch, world), what="surveys and alerts sunk")
        wait_until(lambda: ch.query("SELECT count() AS n FROM member_days_current WHERE cohort = {c:String}",
                                    {"c": g.cohort})[0]["n"] == len(g.plan), what="rollup refreshed")
        overview = metrics.get(f"/v1/cohorts/{g.cohort}/overview", headers=nurse).json()
        qol = {s["scale"]: s for s in metrics.get(f"/v1/cohorts/{g.cohort}/qol", headers=nurse).json()}
        assert g.cohort in [r["cohort"] for r in ch.query(dashboard["templating"]["list"][1]["query"])]
        results = {title: ch.query(_sql(panel, g.cohort)) for title, panel in panels.items()}

    (headline,) = results["Cohorts: headline figures"]
    intervention = overview["intervention"]
    assert (headline["Cohort"], headline["Members"], headline["Follow-up week"]) == \
        (g.cohort, overview["members"], overview["follow_up_week"])
    for name in ("login", "participation", "completion"):  # the API rounds half up to 2 decimals
        assert abs(headline[f"Intervention {name} %"] - intervention[f"mean_{name}_rate"]) <= 0.005 + 1e-9
    assert headline["Active %"] == pytest.approx(overview["active_share"], rel=1e-12)
    assert headline["Attrition %"] == pytest.approx(overview["attrition_rate"], rel=1e-12)
    assert headline["Open alerts"] == overview["workload"]["open_alerts"] == world.open_alerts

    assert [(r["Timepoint"], r["Invited"], r["Completed"]) for r in results["QLQ-C30 completion per timepoint"]] == \
        [(q["timepoint"], q["invited"], q["completed"]) for q in overview["questionnaires"]]

    (load,) = results["Nurse workload"]
    w = overview["workload"]
    assert (load["Open alerts"], load["Not acknowledged"], load["Acknowledged"]) == \
        (w["open_alerts"], w["unacknowledged"], w["acknowledged"])
    assert load["Median minutes to acknowledge"] == pytest.approx(w["ack_median_minutes"])
    assert load["p90 minutes to acknowledge"] == pytest.approx(w["ack_p90_minutes"])

    table = results["Quality of life: change T0 → T2, active vs inactive (Tables 4 and 5)"]
    assert len(table) == 15
    for row in table:
        api = qol[row["Scale"]]
        assert (row["Active n"], row["Inactive n"]) == (api["active"]["n"], api["inactive"]["n"])
        assert row["Active change"] == pytest.approx(api["active"]["mean"], rel=1e-9)
        assert row["Active SD"] == pytest.approx(api["active"]["sd"], rel=1e-9)
        assert row["Inactive change"] == pytest.approx(api["inactive"]["mean"], rel=1e-9)
        between, paired = api["active_vs_inactive"], api["active_t0_vs_t2"]
        assert row["t (active vs inactive)"] == pytest.approx(between["t"], rel=1e-9)
        assert row["p (active vs inactive)"] == pytest.approx(between["p"], rel=1e-6)
        assert row["Active T0"] == pytest.approx(paired["t0_mean"], rel=1e-9)
        assert row["Active T2"] == pytest.approx(paired["t2_mean"], rel=1e-9)
        assert row["Paired t (T2 - T0)"] == pytest.approx(paired["test"]["t"], rel=1e-9)
        assert row["Paired p"] == pytest.approx(paired["test"]["p"], rel=1e-6)
