"""`python -m services.metrics.backup create|restore` — ClickHouse's native BACKUP/RESTORE of the carecircle
database, the code path of the backup CronJob (deploy/k8s/base/backup/) and of the restore runbook
(docs/runbooks/clickhouse-restore.md).

A destination is a URL: `s3://bucket/prefix` (production: `S3('https://bucket.s3.amazonaws.com/prefix/<name>/')`,
the server signs with its own environment credentials) or `file:///path` (`File('/path/<name>')`: a server or
chDB whose `backups.allowed_path` covers it). `create` names each backup by its UTC time, so a schedule never
overwrites one; `restore` takes the full destination of one backup, as `create` printed it.

ClickHouse numbers are derived data (the Kafka log is the system of record): a backup shortens recovery, the
rebuild Job (`python -m services.metrics.rebuild`) remains the way back when no backup is usable.
"""

from __future__ import annotations

import re
import sys
from datetime import datetime, timezone
from urllib.parse import urlparse

import typer

from .clickhouse import ClickHouse, ClickHouseError, connect

cli = typer.Typer(add_completion=False, help=__doc__)
# Only the ClickHouse URL (the backup account's): a backup pod needs no token key or Kafka credentials.
CLICKHOUSE_URL = typer.Option(..., envvar="CLICKHOUSE_URL", help="clickhouse://user:password@host:9000/db",
                              show_default=False, show_envvar=True)
_SAFE = re.compile(r"^[A-Za-z0-9._/=-]+$")  # bucket, prefix and path characters: no quote can reach the SQL


class BackupError(RuntimeError):
    pass


def backup_name(now: datetime) -> str:
    return now.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def destination_sql(url: str) -> str:
    """The BACKUP/RESTORE destination clause of a backup's URL."""
    parsed = urlparse(url)
    location = (parsed.netloc + parsed.path) if parsed.scheme == "s3" else parsed.path
    if not location or not _SAFE.match(location) or ".." in location.split("/"):
        raise BackupError(f"backup location must be s3://bucket/prefix or file:///path (letters, digits, ._/=-), "
                          f"not {url!r}")
    if parsed.scheme == "s3":
        bucket, _, key = location.partition("/")
        return f"S3('https://{bucket}.s3.amazonaws.com/{key.rstrip('/')}/')"
    if parsed.scheme == "file":
        return f"File('{location}')"
    raise BackupError(f"backup location must start with s3:// or file://, not {parsed.scheme or 'nothing'}://")


def backup_sql(database: str, url: str) -> str:
    return f"BACKUP DATABASE {database} TO {destination_sql(url)}"


def restore_sql(database: str, url: str) -> str:
    # every table of the backup, into a database that must not hold them yet (restore into a fresh server,
    # or drop the damaged database first: docs/runbooks/clickhouse-restore.md)
    return f"RESTORE DATABASE {database} FROM {destination_sql(url)}"


def _status(ch: ClickHouse, sql: str, expected: str) -> str:
    """Run BACKUP/RESTORE (synchronous) and check its outcome in system.backups (the status column is an Enum,
    which some clients return as its number)."""
    try:
        rows = ch.query(sql)
        (outcome,) = ch.query("SELECT toString(status) AS status, error FROM system.backups WHERE id = {id:String}",
                              {"id": str(rows[0]["id"])})
    except ClickHouseError as exc:
        raise BackupError(str(exc).splitlines()[0][:500]) from exc
    if outcome["status"] != expected:
        raise BackupError(f"ClickHouse reports {outcome['status']}, expected {expected}: {outcome['error'][:500]}")
    return outcome["status"]


def create(ch: ClickHouse, target: str, now: datetime | None = None) -> str:
    """Back the database up under `target`/<UTC time>; returns that backup's URL."""
    url = f"{target.rstrip('/')}/{backup_name(now or datetime.now(timezone.utc))}"
    _status(ch, backup_sql(ch.database, url), "BACKUP_CREATED")
    return url


def restore(ch: ClickHouse, url: str) -> None:
    _status(ch, restore_sql(ch.database, url), "RESTORED")


@cli.command("create")
def create_command(to: str = typer.Option(..., envvar="BACKUP_TARGET", help="s3://bucket/prefix or file:///path"),
                   clickhouse_url: str = CLICKHOUSE_URL):
    """Back up now (the CronJob)."""
    ch = connect(clickhouse_url)
    try:
        print(create(ch, to))
    except BackupError as exc:
        print(f"backup failed: {exc}", file=sys.stderr)
        raise typer.Exit(1) from None
    finally:
        ch.close()


@cli.command("restore")
def restore_command(source: str = typer.Option(..., "--from", help="one backup's URL, as create printed it"),
                    clickhouse_url: str = CLICKHOUSE_URL):
    """Restore one backup into a server whose carecircle database holds no tables."""
    ch = connect(clickhouse_url)
    try:
        restore(ch, source)
        print(f"restored {source}")
    except BackupError as exc:
        print(f"restore failed: {exc}", file=sys.stderr)
        raise typer.Exit(1) from None
    finally:
        ch.close()


if __name__ == "__main__":
    cli()
