"""The TypeScript client, built with the npm toolchain (`npm ci && npm run build`), in headless
Chromium against the real ingest (over HTTP) and the real broker: events tracked while the network
is down wait in IndexedDB (even across a page reload), go out once it returns, and land once each."""

import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from client_tests.conftest import landed_ids
from client_tests.live_ingest import Fault, LiveIngest
from playwright.sync_api import sync_playwright

PACKAGE = Path(__file__).resolve().parents[1]
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]


def build_package() -> Path:
    """The package's one build command; no npm is a failure, never a skip."""
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("npm is not installed: the TypeScript client cannot be built (docs/clients.md)")
    if not (PACKAGE / "node_modules" / ".package-lock.json").exists():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=PACKAGE, check=True, timeout=300)
    subprocess.run([npm, "run", "build"], cwd=PACKAGE, check=True, timeout=300)
    return PACKAGE / "dist"


@pytest.fixture(scope="module")
def dist() -> Path:
    """Built once for the module: every test here loads the same build (CI time, docs/testing.md)."""
    return build_package()


TRACK_OFFLINE = """async () => {
  const { CareCircleClient } = window.lib;
  const client = new CareCircleClient({ baseUrl: location.origin, token: window.TOKEN, flushIntervalMs: 0,
                                        maxAttempts: 2, sleep: () => Promise.resolve() });
  const ids = [];
  for (let i = 0; i < 600; i++) ids.push(await client.trackCheckin('meal', i));
  let error = null;
  try { await client.flush(); } catch (e) { error = e.message; }
  const queued = await client.queue.size();
  client.close();  // the app is closed while offline; its events stay in IndexedDB
  return { ids, error, queued };
}"""

REOPEN = """async () => {
  const { CareCircleClient } = window.lib;
  window.client = new CareCircleClient({ baseUrl: location.origin, token: window.TOKEN, flushIntervalMs: 0 });
  return await window.client.queue.size();
}"""


def test_events_queued_offline_are_sent_once_when_the_network_returns(broker, jwt_secret, mint, dist):
    with LiveIngest(broker, jwt_secret) as ingest:
        ingest.gate.files = {"/blank.html": Path(__file__).with_name("blank.html")} | {
            f"/client/{f.name}": f for f in dist.glob("*.js")}
        member = f"ts-{time.time_ns() % 10**9}"
        ingest.enrol(mint("ops", "admin"), member)
        token = json.dumps(mint(member))
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            context = browser.new_context()
            page = context.new_page()
            page.goto(f"{ingest.url}/blank.html")
            page.evaluate(f"async () => {{ window.TOKEN = {token}; window.lib = await import('/client/index.js'); }}")
            context.set_offline(True)
            offline = page.evaluate(TRACK_OFFLINE)
            assert offline["error"] and "events kept queued" in offline["error"]
            assert offline["queued"] == 600 and ingest.gate.bodies == []

            context.set_offline(False)  # reload the app (the queue is in IndexedDB), then go offline again
            page.reload()
            page.evaluate(f"async () => {{ window.TOKEN = {token}; window.lib = await import('/client/index.js'); }}")
            context.set_offline(True)
            assert page.evaluate(REOPEN) == 600
            context.set_offline(False)  # the "online" event makes the client send what waited
            deadline = time.monotonic() + 60
            while page.evaluate("window.client.queue.size()"):
                assert time.monotonic() < deadline, "the queue was never sent after the network returned"
                time.sleep(0.2)
            browser.close()
        # Two batches, each accepted once. On a loaded machine ingest may answer a batch 503 (the broker
        # acknowledged too slowly): the client then resends the same bytes, which is the contract.
        bodies, statuses = ingest.gate.bodies, ingest.gate.statuses
        batches = [b for i, b in enumerate(bodies) if i == 0 or b != bodies[i - 1]]
        assert [len(json.loads(b)) for b in batches] == [500, 100]
        assert statuses.count(202) == 2 and set(statuses) <= {202, 429, 502, 503, 504}, statuses
        assert sorted(landed_ids(broker, offline["ids"], 600)) == sorted(offline["ids"])


FAULTS_AND_REJECTIONS = """async () => {
  const { CareCircleClient } = await import('/client/index.js');
  const sleeps = [], reported = [];
  const client = new CareCircleClient({ baseUrl: location.origin, token: window.TOKEN, flushIntervalMs: 0,
    queue: new (await import('/client/index.js')).MemoryQueue(),
    sleep: (ms) => { sleeps.push(ms); return Promise.resolve(); },
    onRejected: (r) => reported.push(r.event.event_id) });
  const good = [await client.trackLogin(), await client.trackCheckin('meal', 1200)];
  const bad = await client.trackPost('megaphone');
  good.push(await client.trackMeditationPlay('breath-1', 300, true));
  const result = await client.flush();
  return { good, bad, sleeps, reported, accepted: result.accepted, pending: result.pending,
           rejected: result.rejected.map((r) => r.event.event_id) };
}"""


def test_503_and_429_are_retried_with_the_same_batch_and_an_invalid_event_is_reported(broker, jwt_secret, mint,
                                                                                     dist):
    with LiveIngest(broker, jwt_secret) as ingest:
        ingest.gate.files = {"/blank.html": Path(__file__).with_name("blank.html")} | {
            f"/client/{f.name}": f for f in dist.glob("*.js")}
        ingest.gate.faults = {0: Fault(503, retry_after=3), 1: Fault(429, retry_after=7)}
        member = f"ts-{time.time_ns() % 10**9}"
        ingest.enrol(mint("ops", "admin"), member)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            page = browser.new_page()
            page.goto(f"{ingest.url}/blank.html")
            page.evaluate(f"window.TOKEN = {json.dumps(mint(member))}")
            outcome = page.evaluate(FAULTS_AND_REJECTIONS)
            browser.close()
        assert ingest.gate.statuses == [503, 429, 202]
        assert ingest.gate.bodies[0] == ingest.gate.bodies[1] == ingest.gate.bodies[2]  # the same ids every time
        assert outcome["sleeps"] == [3000, 7000]  # Retry-After honoured
        assert outcome["accepted"] == 3 and outcome["pending"] == 0
        assert outcome["rejected"] == outcome["reported"] == [outcome["bad"]]
        assert sorted(landed_ids(broker, outcome["good"] + [outcome["bad"]], 3)) == sorted(outcome["good"])
