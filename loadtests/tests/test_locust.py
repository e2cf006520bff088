"""`loadtests/locustfile.py` runs headless for a few seconds against the running ingest, notifier and
survey services (subprocesses on free ports, the real broker) with no failed request."""

from __future__ import annotations

import csv
import os
import subprocess
import sys

from .conftest import REPO, running


def test_locust_runs_without_failures(jwt_secret, tmp_path):
    with running(jwt_secret, tmp_path, {"ingest": {}, "notifier": {}, "survey": {}}) as stack:
        env = dict(os.environ, JWT_SECRET=jwt_secret, NOTIFIER_URL=stack.urls["notifier"],
                   SURVEY_URL=stack.urls["survey"], LOADTEST_COHORT="lt-test")
        env.pop("PORT", None)
        result = subprocess.run(
            [sys.executable, "-m", "locust", "-f", "loadtests/locustfile.py", "--headless", "-u", "30", "-r", "30",
             "-t", "6s", "--host", stack.urls["ingest"], "--csv", str(tmp_path / "lt"), "--only-summary"],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    with open(tmp_path / "lt_stats.csv", newline="") as f:
        rows = {r["Name"]: r for r in csv.DictReader(f)}
    total = rows["Aggregated"]
    assert int(total["Request Count"]) > 50 and int(total["Failure Count"]) == 0
    # every kind of traffic really ran: enrolments, each event type, the survey and the nurse queue
    for name in ("POST /v1/enrollments", "POST /v1/events [login]", "POST /v1/events [checkin meal]",
                 "GET /v1/surveys/pending", "GET /v1/alerts?status=open"):
        assert int(rows[name]["Request Count"]) > 0, name
