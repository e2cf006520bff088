"""Mint local tokens: `python -m services.ingest.tokens --member m-1` (or --nurse / --researcher / --admin).

Signs with the Ed25519 key in JWT_SIGNING_KEY_FILE (EdDSA; `make run` generates var/keys/signing-key.pem
and points the services' JWT_JWKS_FILE at its public half). Without it, signs HS256 with JWT_SECRET (or
the documented dev secret), which services accept only with AUTH_DEV=1. Lifetimes above the caps
(member 30 days, staff 12 hours) are refused here as the services would refuse the token."""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Annotated

import typer

from services.common.auth import DEV_ISSUER, mint_token
from services.common.keys import load_private_key
from services.common.settings import DEV_JWT_SECRET

app = typer.Typer(add_completion=False)
MAX_HOURS = {"member": 720, "nurse": 12, "researcher": 12, "admin": 12}


@app.command()
def main(
    member: Annotated[str | None, typer.Option(help="Member id (token subject, role member)")] = None,
    nurse: Annotated[str | None, typer.Option(help="Nurse id (role nurse)")] = None,
    researcher: Annotated[str | None, typer.Option(help="Researcher id (role researcher: cohort aggregates)")] = None,
    admin: Annotated[str | None, typer.Option(help="Admin id (role admin)")] = None,
    cohort: Annotated[list[str] | None, typer.Option(help="Cohort the token may see (repeatable)")] = None,
    hours: Annotated[float, typer.Option(help="Validity in hours (member at most 720, staff at most 12)")] = 12,
) -> None:
    chosen = [(role, sub) for role, sub in (("member", member), ("nurse", nurse), ("researcher", researcher),
                                             ("admin", admin)) if sub]
    if len(chosen) != 1:
        raise typer.BadParameter("give exactly one of --member, --nurse, --researcher, --admin")
    role, subject = chosen[0]
    if not 0 < hours <= MAX_HOURS[role]:
        raise typer.BadParameter(f"--hours for role {role} must be in (0, {MAX_HOURS[role]}]")
    ttl, cohorts = timedelta(hours=hours), tuple(cohort or ())
    key_file = os.environ.get("JWT_SIGNING_KEY_FILE")
    if key_file:
        key, kid = load_private_key(key_file)
        issuer = os.environ.get("JWT_ISSUER", "carecircle-auth")
        typer.echo(mint_token(key, subject, role, cohorts, ttl, kid=kid, issuer=issuer))
    else:
        secret = os.environ.get("JWT_SECRET", DEV_JWT_SECRET)
        typer.echo(mint_token(secret, subject, role, cohorts, ttl, issuer=DEV_ISSUER))


if __name__ == "__main__":
    app()
