"""The provisioned Grafana dashboard: every ClickHouse panel query runs on chDB against a generated
cohort and shows the API's numbers; every Prometheus series it plots is exported by the service."""

from __future__ import annotations

import json
import re
import time
from datetime import datetime, timezone

import pytest

from services.metrics.settings import REPO
from testsupport.cohort import generate

from .conftest import ingest_client, metrics_client, send_cohort, unique_prefix, wait_until_sunk

DASHBOARD = REPO / "deploy" / "grafana" / "dashboards" / "carecircle-participation.json"
RATES = ("Daily login %", "Task participation %", "Task completion %")


def _sql(target: dict, cohort: str) -> str:
    sql = target["rawSql"].replace("${cohort}", cohort)
    return re.sub(r"\$__timeFilter\((\w+)\)", r"\1 >= now() - INTERVAL 1 DAY", sql)


def _day(value) -> str:
    """chDB hands DateTime (seconds) to Arrow as an integer; a server as a datetime."""
    if isinstance(value, int):
        value = datetime.fromtimestamp(value, timezone.utc)
    return value.date().isoformat()


def test_clickhouse_panels_show_the_api_numbers(broker, jwt_secret, mint, admin_token, tmp_path):
    dashboard = json.loads(DASHBOARD.read_text())
    panels = {p["title"]: p for p in dashboard["panels"]}
    prefix = unique_prefix()
    g = generate(seed=13, members=9, weeks=6, cohort=f"graf-{prefix}", prefix=prefix)
    nurse = {"Authorization": f"Bearer {mint('n', 'nurse', (g.cohort,))}"}
    with ingest_client(broker, jwt_secret) as ingest:
        send_cohort(ingest, admin_token, g)
    with metrics_client(broker, jwt_secret, tmp_path / "chdb", run_stream=False, rollup_interval_s=0.2) as metrics:
        ch = metrics.app.state.ch
        wait_until_sunk(ch, g, prefix)
        deadline = time.monotonic() + 30  # the service's rollup task catches up by itself
        while ch.query("SELECT count() AS n FROM member_days_current WHERE cohort = {c:String}",
                       {"c": g.cohort})[0]["n"] != len(g.plan):
            assert time.monotonic() < deadline, "rollup not refreshed"
            time.sleep(0.1)
        api = {r: metrics.get(f"/v1/cohorts/{g.cohort}/{r}", headers=nurse).json()
               for r in ("weekly", "daily", "members", "daytypes")}

        variable = dashboard["templating"]["list"][0]
        assert g.cohort in [r["cohort"] for r in ch.query(variable["query"])]
        results = {}
        for title, panel in panels.items():
            for target in panel["targets"]:
                if target["datasource"]["type"] == "grafana-clickhouse-datasource":
                    results[title] = ch.query(_sql(target, g.cohort))
        assert len(results) == 5

        weekly = results["Weekly rates (the paper's Table 3)"]
        assert [(r["Stage"], r["Week"], *(r[k] for k in RATES), r["Member-days"]) for r in weekly] == \
            [(w["stage"], w["week"], w["login_rate"], w["participation_rate"], w["completion_rate"], w["member_days"])
             for w in api["weekly"]]
        daily = results["Daily rates (%)"]
        assert [(_day(r["time"]), *(r[k] for k in RATES)) for r in daily] == \
            [(d["day"], d["login_rate"], d["participation_rate"], d["completion_rate"]) for d in api["daily"]]
        active = sum(m["active"] for m in api["members"])
        assert results["Active vs inactive members (first 28 days)"] == [{"Active": active,
                                                                         "Inactive": len(api["members"]) - active}]
        types = results["Working vs non-working days"]
        assert [r["Day type"] for r in types] == [d["day_type"] for d in api["daytypes"]]
        for r, d in zip(types, api["daytypes"]):
            assert (r["Daily login %"], r["Member-days"]) == (d["login_rate"], d["member_days"])
            assert r["Actions / member-day"] == pytest.approx(d["actions_mean"], rel=1e-12)
            assert r["SD (sample)"] == pytest.approx(d["actions_sd"], rel=1e-9)
        hourly = results["Client events received per hour (all cohorts, de-duplicated)"]
        assert sum(r["events"] for r in hourly) >= g.unique_events

        exported = metrics.get("/metrics").text
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            if target["datasource"]["type"] == "prometheus":
                for name in re.findall(r"\b(metrics_[a-z_]+?)(?:_total)?\b", target["expr"]):
                    assert re.search(rf"^{name}", exported, re.M), f"{name} is not exported by the metrics service"
