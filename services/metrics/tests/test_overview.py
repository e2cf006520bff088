"""GET /v1/cohorts/overview and /v1/cohorts/{c}/overview on the real broker + chDB: the headline
figures equal the published numbers (/summary, /members) and the questionnaires sent; each token
sees only its cohorts; no member id in the answer."""

from __future__ import annotations

import base64
import struct
import threading

import httpx
import uvicorn
from playwright.sync_api import sync_playwright

from services.common.broker import free_port
from services.metrics.app import create_app
from testsupport.polling import wait_until

from .conftest import ingest_client, metrics_client, metrics_settings, send_cohort, unique_prefix, wait_until_sunk
from .overview_world import surveyed_cohort, surveys_sunk
from .test_dashboard import CHROMIUM_ARGS, COUNT_PIXELS

TEXT_RGB = (0x1D, 0x27, 0x33)  # body text colour in dashboard.css


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
    assert row["workload"] == {"open_alerts": world.open_alerts, "unacknowledged": world.unacknowledged,
                               "acknowledged": 3, "ack_median_minutes": 90.0, "ack_p90_minutes": 210.0}


def test_quantile_matches_numpy_and_clickhouse_inclusive():
    import numpy as np

    from services.metrics.overview import quantile_inclusive

    assert quantile_inclusive([], 0.5) is None
    for values in ([5.0], [1.0, 2.0], [3, 1, 4, 1, 5, 9, 2, 6], list(range(10, 111, 10))):
        for q in (0.5, 0.9):
            assert abs(quantile_inclusive(values, q) - np.percentile(values, 100 * q)) < 1e-12


def test_dashboard_lists_cohorts_and_shows_qol_in_chromium(broker, jwt_secret, mint, admin_token, tmp_path):
    """A researcher's dashboard: the cohort list with headline figures, a click opens the cohort page
    with QoL (Tables 4/5), completion per timepoint and the activity counts; screenshots checked."""
    prefix = unique_prefix()
    world = surveyed_cohort(broker, f"ovd-{prefix}", prefix, seed=22)
    g, other = world.g, f"ovd-other-{prefix}"
    port = free_port()
    app = create_app(metrics_settings(broker, jwt_secret, tmp_path / "chdb", run_stream=False))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        with ingest_client(broker, jwt_secret) as ingest:
            send_cohort(ingest, admin_token, g)
            assert ingest.put(f"/v1/cohorts/{other}/settings", json={"intervention_weeks": 4},
                              headers={"Authorization": f"Bearer {admin_token}"}).status_code == 202
        wait_until(lambda: server.started and hasattr(app.state, "ch"), what="metrics up")
        ch = app.state.ch
        wait_until_sunk(ch, g, prefix)
        wait_until(lambda: surveys_sunk(ch, world), what="survey invitations and scores sunk")
        wait_until(lambda: ch.query("SELECT count() AS n FROM cohorts WHERE cohort = {c:String}",
                                    {"c": other})[0]["n"], what="second cohort sunk")
        token = mint("r-1", "researcher", (other, g.cohort))  # the first cohort of the token opens first
        base, auth = f"http://127.0.0.1:{port}", {"Authorization": f"Bearer {token}"}
        qol = httpx.get(f"{base}/v1/cohorts/{g.cohort}/qol", headers=auth).json()
        row = httpx.get(f"{base}/v1/cohorts/{g.cohort}/overview", headers=auth).json()
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(f"{base}/#token={token}")
            page.wait_for_selector("body[data-loaded=true]")
            assert page.locator("#cohort-name").inner_text() == other
            listed = page.locator("#cohorts tbody tr")
            names = [listed.nth(i).get_attribute("data-cohort") for i in range(listed.count())]
            assert names == sorted([g.cohort, other])
            mine = page.locator(f'#cohorts tr[data-cohort="{g.cohort}"]')
            assert mine.locator("td.members").inner_text() == str(len(g.enrolments))
            assert mine.locator("td.qlq-T1").inner_text() == f"{world.completed['T1']}/{world.invited['T1']}"
            assert mine.locator("td.login").inner_text() == f"{row['intervention']['mean_login_rate']:.2f}"
            assert mine.locator("td.attrition").inner_text() == f"{row['attrition_rate']:.1f} %"
            assert set(page.locator("#qol-table td.active-n").all_inner_texts()) == {"0"}  # settings only: no scores
            assert mine.locator("td.open-alerts").inner_text() == str(world.open_alerts)

            mine.locator("button.open").focus()
            page.keyboard.press("Enter")
            page.wait_for_selector(f'body[data-shown="{g.cohort}"]')  # every panel of the cohort drawn
            assert page.locator("#cohorts tr.current").get_attribute("data-cohort") == g.cohort
            assert page.locator("#cohort-name").inner_text() == g.cohort
            assert page.locator("#active-count").inner_text() == str(row["active"])
            assert page.locator("#open-alerts").inner_text() == str(world.open_alerts)
            assert page.locator("#ack-median").inner_text() == "90 min"
            assert page.locator("#ack-p90").inner_text() == "210 min"
            assert page.locator("#completion tbody tr").count() == 3
            assert page.locator('#completion tr[data-timepoint="T2"] td').nth(2).inner_text() == \
                str(world.completed["T2"])
            rows = page.locator("#qol-table tbody tr")
            assert rows.count() == len(qol) >= 15  # the 15 scales (and the summary score)
            ql2 = next(s for s in qol if s["scale"] == "QL2")
            shown = page.locator('#qol-table tr[data-scale="QL2"]')
            assert shown.locator("td.active-n").inner_text() == str(ql2["active"]["n"]) != "0"
            assert shown.locator("td.active-change").inner_text() == \
                f"{ql2['active']['mean']:.1f} ({ql2['active']['sd']:.1f})"
            assert shown.locator("td.t").inner_text() == f"{ql2['active_vs_inactive']['t']:.2f}"

            full = page.screenshot(full_page=True)
            table = page.locator("#qol-table tbody").screenshot()
            listing = page.locator("#overview").screenshot()
            blank = browser.new_page()  # the dashboard's CSP refuses data: images: count pixels elsewhere
            counts = {name: blank.evaluate(COUNT_PIXELS, [base64.b64encode(png).decode(), list(TEXT_RGB)])
                      for name, png in (("full", full), ("table", table), ("listing", listing))}
            for name, png in (("overview", full), ("qol-table", table), ("cohort-list", listing)):
                (tmp_path / f"{name}.png").write_bytes(png)  # kept for a human look at a failure
            browser.close()
        width, height = struct.unpack(">II", full[16:24])
        assert width == 1400 and height >= 900
        assert counts["full"][1] > width * height // 20, "the screenshot is (nearly) blank"
        table_height = struct.unpack(">II", table[16:24])[1]
        assert table_height >= 15 * 15, "the QoL table does not show its 15 scales"
        assert counts["table"][0] > 3000, "the QoL table has no text drawn"
        assert counts["listing"][0] > 1000, "the cohort list has no text drawn"
    finally:
        server.should_exit = True
        thread.join(20)
