"""The dashboard in headless Chromium: the weekly table shows the API's numbers (Table 3 layout), the
daily chart is drawn, active/inactive counts and day types are filled; the screenshot is checked."""

from __future__ import annotations

import base64
import struct
import threading
import time
from fractions import Fraction

import httpx
import uvicorn
from playwright.sync_api import sync_playwright

from contracts.engagement import half_up
from services.common.broker import free_port
from services.metrics.app import create_app
from testsupport.cohort import generate

from .conftest import ingest_client, metrics_settings, send_cohort, unique_prefix, wait_until_sunk

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
LOGIN_RGB = (0x1F, 0x77, 0xB4)  # the login series colour in index.html

COUNT_PIXELS = """async ([png, rgb]) => {
  const img = new Image(); img.src = "data:image/png;base64," + png; await img.decode();
  const c = document.createElement("canvas"); c.width = img.width; c.height = img.height;
  const g = c.getContext("2d"); g.drawImage(img, 0, 0);
  const d = g.getImageData(0, 0, c.width, c.height).data;
  let series = 0, nonWhite = 0;
  for (let i = 0; i < d.length; i += 4) {
    if (Math.abs(d[i] - rgb[0]) < 40 && Math.abs(d[i + 1] - rgb[1]) < 40 && Math.abs(d[i + 2] - rgb[2]) < 40) series++;
    if (d[i] < 240 || d[i + 1] < 240 || d[i + 2] < 240) nonWhite++;
  }
  return [series, nonWhite];
}"""


def test_dashboard_shows_the_api_numbers(broker, jwt_secret, mint, admin_token, tmp_path):
    prefix = unique_prefix()
    g = generate(seed=21, members=9, weeks=6, cohort=f"dash-{prefix}", prefix=prefix)
    g.settings["intervention_weeks"] = 3  # the mean row follows the cohort's setting, not a fixed 4
    port = free_port()
    app = create_app(metrics_settings(broker, jwt_secret, tmp_path / "chdb", run_stream=False))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        with ingest_client(broker, jwt_secret) as ingest:
            send_cohort(ingest, admin_token, g)
        deadline = time.monotonic() + 30
        while not (server.started and hasattr(app.state, "ch")):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        wait_until_sunk(app.state.ch, g, prefix)
        token = mint("nurse-d", "nurse", (g.cohort,))
        base = f"http://127.0.0.1:{port}"
        weekly = httpx.get(f"{base}/v1/cohorts/{g.cohort}/weekly", headers={"Authorization": f"Bearer {token}"}).json()
        members = httpx.get(f"{base}/v1/cohorts/{g.cohort}/members", headers={"Authorization": f"Bearer {token}"}).json()
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(f"{base}/#token={token}")  # the cohort comes from the token; a fragment never reaches the server
            page.wait_for_selector("body[data-loaded=true]")
            rows = page.locator("#weekly tbody tr[data-week]")
            assert rows.count() == len(weekly)
            for i, w in enumerate(weekly):
                row = rows.nth(i)
                assert row.get_attribute("data-week") == str(w["week"])
                for key in ("login_rate", "participation_rate", "completion_rate"):
                    cell = row.locator(f"td.{key}")
                    assert float(cell.get_attribute("data-value")) == w[key]
                    assert cell.inner_text() == f"{w[key]:.1f}"
                assert row.locator("td.member_days").inner_text() == str(w["member_days"])
            assert rows.nth(0).locator("td.stage").inner_text() == "intervention"
            assert rows.nth(3).locator("td.stage").inner_text() == "open-ended"
            # Weeks 1–N mean: the cohort's intervention_weeks (3 here), mean of the weekly rates, half up, 2 decimals.
            mean = Fraction(sum(Fraction(100 * w["logged_in_days"], w["member_days"]) for w in weekly[:3]), 3)
            assert page.locator("#weekly tr.mean td").first.inner_text() == "Weeks 1–3 mean"
            assert page.locator("#weekly tr.mean td.login_rate").inner_text() == f"{half_up(mean)}"
            active = sum(m["activity"] == "active" for m in members)
            assert page.locator("#active-count").inner_text() == str(active)
            assert page.locator("#inactive-count").inner_text() == str(sum(m["activity"] == "inactive" for m in members))
            assert page.locator("#daytypes tbody tr").count() == 2
            assert page.locator("#daily-chart polyline").count() == 3

            png = page.screenshot(full_page=True)
            # counted on a blank page: the dashboard's CSP (default-src 'self') refuses data: images
            series, non_white = browser.new_page().evaluate(COUNT_PIXELS, [base64.b64encode(png).decode(), list(LOGIN_RGB)])
            (tmp_path / "dashboard.png").write_bytes(png)

            page.goto(f"{base}/?cohort={g.cohort}#token=not-a-token")
            page.wait_for_selector("#status.error")
            assert "401" in page.locator("#status").inner_text()
            browser.close()
        width, height = struct.unpack(">II", png[16:24])
        assert width == 1400 and height >= 700
        assert series > 500, "the daily login line is not drawn"
        assert non_white > width * height // 20, "the screenshot is (nearly) blank"
    finally:
        server.should_exit = True
        thread.join(20)
