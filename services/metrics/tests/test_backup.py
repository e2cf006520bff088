"""ClickHouse backups (services/metrics/backup.py, the backup CronJob's code path): a backup made with
ClickHouse's native BACKUP of a sunk cohort, restored into an empty store, serves every published number
exactly as before. chDB is the engine here (`backups.allowed_path` set through its config file, File(...)
destination); production writes to S3 with the same statement (destination_sql)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timezone

import pytest

from services.metrics import backup
from services.metrics.clickhouse import ChdbClickHouse
from services.metrics.settings import REPO
from testsupport.cohort import generate

from .conftest import ingest_client, metrics_client, send_cohort, sunk_counts, unique_prefix, wait_until_sunk

ROUTES = ("weekly", "daily", "members", "daytypes", "qol")


def _published(metrics, cohort: str, headers: dict) -> dict:
    answers = {}
    for route in ROUTES:
        response = metrics.get(f"/v1/cohorts/{cohort}/{route}", headers=headers)
        answers[route] = (response.status_code, response.json())
    return answers


def _tables(ch) -> dict[str, int]:
    names = [r["name"] for r in ch.query("SELECT name FROM system.tables WHERE database = currentDatabase() "
                                         "AND engine LIKE '%MergeTree%' ORDER BY name")]
    return {name: ch.query(f"SELECT count() AS n FROM {name} FINAL")[0]["n"] for name in names}


def _chdb_with_backups(path, allowed) -> ChdbClickHouse:
    config = allowed.parent / "chdb-backups.xml"
    config.write_text(f"<clickhouse><backups><allowed_path>{allowed}/</allowed_path></backups></clickhouse>\n")
    return ChdbClickHouse(f"{path}?config-file={config}")


def test_backup_restores_every_published_number(own_broker, jwt_secret, mint, admin_token, tmp_path):
    _, bootstrap = own_broker
    prefix = unique_prefix()
    g = generate(seed=11, members=10, weeks=4, cohort=f"bk-{prefix}", prefix=prefix)
    nurse = {"Authorization": f"Bearer {mint('n', 'nurse', (g.cohort,))}"}
    original, restored, backups = tmp_path / "original", tmp_path / "restored", tmp_path / "backups"
    backups.mkdir()
    with ingest_client(bootstrap, jwt_secret) as ingest:
        send_cohort(ingest, admin_token, g)
    with metrics_client(bootstrap, jwt_secret, original, run_stream=False) as metrics:
        wait_until_sunk(metrics.app.state.ch, g, prefix)
        before = _published(metrics, g.cohort, nurse)
        counts_before = sunk_counts(metrics.app.state.ch.query, prefix, g.cohort)
        tables_before = _tables(metrics.app.state.ch)
    assert before["weekly"][0] == 200 and before["weekly"][1]

    ch = _chdb_with_backups(original, backups)
    try:
        url = backup.create(ch, f"file://{backups}", now=datetime(2026, 11, 29, 3, 0, tzinfo=timezone.utc))
    finally:
        ch.close()
    assert url == f"file://{backups}/20261129T030000Z"

    ch = _chdb_with_backups(restored, backups)
    try:
        backup.restore(ch, url)
        assert _tables(ch) == tables_before
    finally:
        ch.close()

    with metrics_client(bootstrap, jwt_secret, restored, run_stream=False, run_sink=False) as metrics:
        assert sunk_counts(metrics.app.state.ch.query, prefix, g.cohort) == counts_before
        assert _published(metrics, g.cohort, nurse) == before


def test_restore_refuses_to_overwrite_tables(tmp_path):
    """A restore never mixes a backup into live tables: the runbook drops the damaged database first."""
    backups = tmp_path / "backups"
    backups.mkdir()
    ch = _chdb_with_backups(tmp_path / "store", backups)
    try:
        ch.command("CREATE TABLE kept (a UInt8) ENGINE = MergeTree ORDER BY a")
        ch.command("INSERT INTO kept VALUES (1)")
        url = backup.create(ch, f"file://{backups}")
        with pytest.raises(backup.BackupError):
            backup.restore(ch, url)
        assert ch.query("SELECT count() AS n FROM kept")[0]["n"] == 1
    finally:
        ch.close()


@pytest.mark.parametrize(("url", "clause"), [
    ("s3://carecircle-backups/prod/20261129T030000Z",
     "S3('https://carecircle-backups.s3.amazonaws.com/prod/20261129T030000Z/')"),
    ("file:///var/lib/clickhouse/backups/x", "File('/var/lib/clickhouse/backups/x')"),
])
def test_destinations(url, clause):
    assert backup.destination_sql(url) == clause
    assert backup.backup_sql("carecircle", url) == f"BACKUP DATABASE carecircle TO {clause}"


@pytest.mark.parametrize("url", ["s3://bucket/x')--", "http://x/y", "file:///a/../etc", "s3://"])
def test_unsafe_or_unknown_destinations_refused(url):
    with pytest.raises(backup.BackupError, match="backup location must"):
        backup.destination_sql(url)


def test_production_statement_parses_as_clickhouse_sql(tmp_path):
    """The S3 statement the CronJob sends is valid ClickHouse SQL (formatQuery: parsed, not run)."""
    ch = ChdbClickHouse(str(tmp_path / "parse"))
    try:
        sql = backup.backup_sql("carecircle", "s3://carecircle-backups/prod/20261129T030000Z")
        (row,) = ch.query("SELECT formatQuery({q:String}) AS q", {"q": sql})
        assert row["q"].startswith("BACKUP DATABASE carecircle TO S3(")
    finally:
        ch.close()


def test_cli_reports_a_failure_without_a_trace(tmp_path):
    env = {**os.environ, "CLICKHOUSE_URL": f"chdb://{tmp_path / 'store'}", "BACKUP_TARGET": f"file://{tmp_path}"}
    run = subprocess.run([sys.executable, "-m", "services.metrics.backup", "create"], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 1
    assert "backup failed:" in run.stderr and "allowed_path" in run.stderr and "Traceback" not in run.stderr
