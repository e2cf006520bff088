"""SIGKILL the whole metrics service (`python -m services.metrics`: sink + faust + API) in the middle
of a cohort's stream, restart it on the same chDB directory: every number equals the ground truth."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx

from services.common.broker import free_port, wait_for_port
from services.metrics.settings import REPO
from testsupport.cohort import generate, truth_daily, truth_daytypes, truth_members, truth_weekly

from .conftest import ingest_client, send_cohort, unique_prefix


def _start(bootstrap: str, jwt_secret: str, chdb_dir, port: int, log) -> subprocess.Popen:
    env = {**os.environ, "KAFKA_BOOTSTRAP": bootstrap, "JWT_SECRET": jwt_secret, "METRICS_PORT": str(port),
           "CLICKHOUSE_URL": f"chdb://{chdb_dir}", "METRICS_SINK_POLL_MS": "50", "LOG_LEVEL": "WARNING"}
    env.pop("PORT", None)
    process = subprocess.Popen([sys.executable, "-m", "services.metrics"], cwd=REPO, env=env, stdout=log, stderr=log)
    wait_for_port(port, timeout_s=60)
    return process


def test_sigkill_mid_stream_changes_no_number(own_broker, jwt_secret, mint, admin_token, tmp_path):
    _, bootstrap = own_broker
    prefix = unique_prefix()
    g = generate(seed=5, members=51, cohort=f"kill-{prefix}", prefix=prefix)
    nurse = {"Authorization": f"Bearer {mint('n', 'nurse', (g.cohort,))}"}
    port, chdb_dir, half = free_port(), tmp_path / "chdb", len(g.deliveries) * 3 // 5
    url = f"http://127.0.0.1:{port}/v1/cohorts/{g.cohort}"
    with open(tmp_path / "metrics.log", "ab") as log, ingest_client(bootstrap, jwt_secret) as ingest:
        process = _start(bootstrap, jwt_secret, chdb_dir, port, log)
        try:
            send_cohort(ingest, admin_token, g, stop=half, tick=False)
            deadline = time.monotonic() + 60
            while httpx.get(f"{url}/weekly", headers=nurse).status_code != 200:  # the sink is writing
                assert time.monotonic() < deadline
                time.sleep(0.1)
            process.send_signal(signal.SIGKILL)
            assert process.wait(10) == -signal.SIGKILL
            send_cohort(ingest, admin_token, g, start=half, setup=False)  # the rest arrives while it is down
            process = _start(bootstrap, jwt_secret, chdb_dir, port, log)

            want = truth_weekly(g)
            deadline = time.monotonic() + 120
            while (got := httpx.get(f"{url}/weekly", headers=nurse)).status_code != 200 or got.json() != want:
                assert time.monotonic() < deadline, f"weekly never matched the truth: {got.text[:500]}"
                time.sleep(0.3)
            assert httpx.get(f"{url}/daily", headers=nurse).json() == truth_daily(g)
            members = httpx.get(f"{url}/members", headers=nurse).json()
            truth = truth_members(g)
            assert [{k: m[k] for k in truth[0]} for m in members] == truth
            daytypes = httpx.get(f"{url}/daytypes", headers=nurse).json()
            assert [(d["member_days"], d["logged_in_days"], d["actions"]) for d in daytypes] == \
                [(d["member_days"], d["logged_in_days"], d["actions"]) for d in truth_daytypes(g)]
        finally:
            process.kill()
            process.wait(10)
