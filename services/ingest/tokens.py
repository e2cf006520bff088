"""Mint local tokens: `python -m services.ingest.tokens --member m-1` (or --nurse / --admin).

Uses JWT_SECRET from the environment, else the documented dev secret."""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Annotated

import typer

from services.common.auth import mint_token
from services.common.settings import DEV_JWT_SECRET

app = typer.Typer(add_completion=False)


@app.command()
def main(
    member: Annotated[str | None, typer.Option(help="Member id (token subject, role member)")] = None,
    nurse: Annotated[str | None, typer.Option(help="Nurse id (role nurse)")] = None,
    admin: Annotated[str | None, typer.Option(help="Admin id (role admin)")] = None,
    cohort: Annotated[list[str] | None, typer.Option(help="Cohort the token may see (repeatable)")] = None,
    hours: Annotated[float, typer.Option(help="Validity in hours")] = 12,
) -> None:
    chosen = [(role, sub) for role, sub in (("member", member), ("nurse", nurse), ("admin", admin)) if sub]
    if len(chosen) != 1:
        raise typer.BadParameter("give exactly one of --member, --nurse, --admin")
    role, subject = chosen[0]
    secret = os.environ.get("JWT_SECRET", DEV_JWT_SECRET)
    typer.echo(mint_token(secret, subject, role, tuple(cohort or ()), timedelta(hours=hours)))


if __name__ == "__main__":
    app()
