"""Staff pages and tokens (docs/security.md, "Pages"), in headless Chromium against the real services:
after a page loads with a token in its link, the token is in neither the URL nor localStorage (only this
tab's sessionStorage); a token in the query is dropped, not used; the pages run under
`Content-Security-Policy: default-src 'self'` without a violation; data is `no-store`; the dashboard
refreshes no faster than its minimum; /docs is off unless API_DOCS=1."""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager

import httpx
import pytest
import uvicorn
from playwright.sync_api import sync_playwright

from services.common.broker import free_port
from services.metrics.app import create_app as metrics_app
from services.metrics.settings import MetricsSettings
from services.notifier.app import create_app as notifier_app
from services.notifier.settings import NotifierSettings

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


@contextmanager
def serving(app):
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.1)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(20)


@pytest.fixture(scope="module")
def pages(broker, jwt_secret, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pages")
    common = {"kafka_bootstrap": broker, "jwt_secret": jwt_secret, "faust_datadir": str(tmp / "faust")}
    metrics = metrics_app(MetricsSettings(**common, clickhouse_url=f"chdb://{tmp / 'chdb'}", run_stream=False,
                                          rollup_interval_s=0))
    notifier = notifier_app(NotifierSettings(**common), run_stream=False)
    with serving(metrics) as dashboard, serving(notifier) as console:
        yield {"dashboard": dashboard, "nurse console": console}


def test_token_never_stays_in_the_url_or_persistent_storage(pages, mint, fault_report):
    token = mint("n-page", "nurse", ("c-page",))
    wrong, tried = [], 0
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        for name, base in pages.items():
            context = browser.new_context()
            page = context.new_page()
            violations = []
            page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
            # an earlier version of the page left the token in localStorage: it is removed
            page.goto(f"{base}/healthz")
            page.evaluate("t => localStorage.setItem('cc-token', t)", token)

            page.goto(f"{base}/?cohort=c-page#token={token}")
            page.wait_for_function("() => !location.href.includes('token')")
            page.wait_for_timeout(300)
            stored = page.evaluate("() => [location.href, JSON.stringify(localStorage), sessionStorage.getItem('cc-token'),"
                                   " document.getElementById('token').value]")
            tried += 1
            if token in stored[0] or token in stored[1] or stored[2] != token or stored[3] != token:
                wrong.append((name, "fragment link", stored[:2]))

            fresh = context.new_page()  # a token in the query: dropped from the URL and not used
            fresh.goto(f"{base}/?token={token}")
            fresh.wait_for_function("() => !location.href.includes('token')")
            kept = fresh.evaluate("() => [JSON.stringify(localStorage), sessionStorage.getItem('cc-token')]")
            tried += 1
            if token in kept[0] or kept[1]:
                wrong.append((name, "query link", kept))

            pasted = browser.new_context().new_page()  # pasted into the box: this tab's session only
            pasted.goto(f"{base}/")
            pasted.fill("#token", token)
            pasted.dispatch_event("#token", "change")
            kept = pasted.evaluate("() => [location.href, JSON.stringify(localStorage), sessionStorage.getItem('cc-token')]")
            tried += 1
            if token in kept[0] or token in kept[1] or kept[2] != token:
                wrong.append((name, "paste box", kept))
            if violations:
                wrong.append((name, "CSP violations", violations))
        dashboard = browser.new_page()
        dashboard.goto(f"{pages['dashboard']}/?cohort=c-page&refresh=0.05#token={token}")
        assert dashboard.evaluate("() => refreshMs") >= 3000
        browser.close()
    fault_report.add("page token hygiene", inputs_tried=tried + 1, requests_refused_correctly=tried - len(wrong))
    assert wrong == []


def test_security_headers_and_no_cdn_docs(pages, mint):
    token = mint("n-page", "nurse", ("c-page",))
    for name, base in pages.items():
        page = httpx.get(f"{base}/")
        csp = page.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp, name
        assert page.headers["referrer-policy"] == "no-referrer"
        assert "<script>" not in page.text and "<style>" not in page.text and "style=" not in page.text
        data_path = "/v1/cohorts/c-page/weekly" if name == "dashboard" else "/v1/alerts"
        data = httpx.get(f"{base}{data_path}", headers={"Authorization": f"Bearer {token}"})
        assert data.headers["cache-control"] == "no-store", (name, data.status_code)
        refused = httpx.get(f"{base}{data_path}")
        assert refused.status_code == 401 and refused.headers["cache-control"] == "no-store"
        assert httpx.get(f"{base}/docs").status_code == 404  # Swagger UI would come from a CDN
        assert httpx.get(f"{base}/openapi.json").status_code == 200
