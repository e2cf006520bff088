"""`python -m services.metrics.export COHORT --out file.zip --actor STAFF_ID` — the research export
from the command line, by the same code as `GET /v1/cohorts/{cohort}/export` (docs/export.md).

It opens ClickHouse itself: with chDB (one process per data directory) run it while the metrics service
is stopped, or point `--clickhouse-url` at the ClickHouse server. Like the API it writes the export to the
audit trail first (role admin: whoever can open the store holds every right) and exports nothing when
that fails."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import typer
from fastapi import HTTPException
from pydantic import TypeAdapter, ValidationError
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from contracts.common import CohortId
from services.common.audit import AuditTrail
from services.common.auth import Principal

from .. import queries
from ..clickhouse import connect
from ..settings import get_settings
from . import prepare, zip_of

cli = typer.Typer(add_completion=False, help=__doc__)


async def _audit(bootstrap: str, actor: str, cohort: str, identified: bool, members: int) -> None:
    trail = AuditTrail(bootstrap, "metrics")
    try:
        await trail.record(Principal(actor, "admin", frozenset()),
                           "research_export_identified" if identified else "research_export",
                           cohort=cohort, returned=members)
    finally:
        await trail.close()


@cli.command()
def main(cohort: str = typer.Argument(..., help="Cohort identifier"),
         out: Path = typer.Option(..., "--out", help="The ZIP file to write"),
         actor: str = typer.Option(..., help="Your staff id, for the audit trail"),
         identified: bool = typer.Option(False, help="Real member and alert ids instead of pseudonyms"),
         clickhouse_url: str = typer.Option(None, help="Overrides CLICKHOUSE_URL"),
         kafka_bootstrap: str = typer.Option(None, help="Overrides KAFKA_BOOTSTRAP (the audit trail)")) -> None:
    """Write the research export of COHORT to --out."""
    console = Console(stderr=True)
    try:
        TypeAdapter(CohortId).validate_python(cohort)
    except ValidationError:
        console.print("[red]cohort: not a cohort identifier (1-64 letters, digits, . _ -)")
        raise typer.Exit(2) from None
    settings = get_settings()
    ch = connect(clickhouse_url or settings.clickhouse_url, settings.clickhouse_replicated)
    try:
        if not queries.cohort_exists(ch, cohort):
            console.print("[red]cohort: unknown cohort")
            raise typer.Exit(1)
        with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console) as bar:
            task = bar.add_task("reading the cohort")
            export = prepare(ch, cohort, identified)
            try:
                asyncio.run(_audit(kafka_bootstrap or settings.kafka_bootstrap, actor, cohort, identified,
                                   export.members))
            except HTTPException:
                console.print("[red]the audit trail is unavailable: nothing exported")
                raise typer.Exit(1) from None

            def written(name: str, rows: int) -> None:
                bar.update(task, description=f"{name}: {rows} rows")

            partial = out.with_name(out.name + ".part")
            with partial.open("wb") as file:
                for chunk in zip_of(export, written):
                    file.write(chunk)
        partial.replace(out)  # a file named --out is always a whole archive
    finally:
        ch.close()
    console.print(f"wrote {out}")


if __name__ == "__main__":
    sys.exit(cli())
