"""The rebuild command empties every ClickHouse table and refills it from the Kafka log from offset 0:
the published numbers are identical afterwards (and equal the ground truth)."""

from __future__ import annotations

import os
import subprocess
import sys

from services.metrics.settings import REPO
from testsupport.cohort import generate, truth_weekly

from .conftest import ingest_client, metrics_client, send_cohort, sunk_counts, unique_prefix, wait_until_sunk

ROUTES = ("weekly", "daily", "members", "daytypes")


def test_rebuild_from_the_log_gives_identical_numbers(own_broker, jwt_secret, mint, admin_token, tmp_path):
    _, bootstrap = own_broker
    prefix = unique_prefix()
    g = generate(seed=9, members=12, weeks=5, cohort=f"rb-{prefix}", prefix=prefix)
    nurse = {"Authorization": f"Bearer {mint('n', 'nurse', (g.cohort,))}"}
    chdb = tmp_path / "chdb"
    with ingest_client(bootstrap, jwt_secret) as ingest:
        send_cohort(ingest, admin_token, g)
    with metrics_client(bootstrap, jwt_secret, chdb, run_stream=False) as metrics:
        wait_until_sunk(metrics.app.state.ch, g, prefix)
        before = {r: metrics.get(f"/v1/cohorts/{g.cohort}/{r}", headers=nurse).json() for r in ROUTES}
        assert before["weekly"] == truth_weekly(g)
        # Corrupt ClickHouse (a lost batch and a doubled one) — the rebuild must repair both.
        ch = metrics.app.state.ch
        # a partition that holds this cohort's events (member ids are random: partition 0 may hold none)
        lost = ch.query("SELECT any(kafka_partition) AS p FROM events WHERE startsWith(member_id, {m:String})",
                        {"m": f"{prefix}-"})[0]["p"]
        ch.command("ALTER TABLE events DELETE WHERE kafka_partition = {p:UInt16} SETTINGS mutations_sync = 1",
                   {"p": lost})
        ch.command("INSERT INTO events SELECT * FROM events")
        assert metrics.get(f"/v1/cohorts/{g.cohort}/weekly", headers=nurse).json() != before["weekly"]

    env = {**os.environ, "KAFKA_BOOTSTRAP": bootstrap, "JWT_SECRET": jwt_secret, "CLICKHOUSE_URL": f"chdb://{chdb}"}
    run = subprocess.run([sys.executable, "-m", "services.metrics.rebuild", "--idle", "1.5"], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "rebuilt from" in run.stderr

    with metrics_client(bootstrap, jwt_secret, chdb, run_stream=False, run_sink=False) as metrics:
        counts = sunk_counts(metrics.app.state.ch.query, prefix, g.cohort)
        assert counts["events"] == g.unique_events
        after = {r: metrics.get(f"/v1/cohorts/{g.cohort}/{r}", headers=nurse).json() for r in ROUTES}
    assert after == before
