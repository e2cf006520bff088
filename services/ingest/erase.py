"""Erase a member: `python -m services.ingest.erase MEMBER_ID --url http://ingest:8000` (docs/erasure.md).

Calls `DELETE /v1/members/{member_id}` with the admin token from `--token` or `CARECIRCLE_ADMIN_TOKEN`
(never echoed). Asks for confirmation unless `--yes`: an erasure cannot be undone. Exit status 0 when
erased, 1 when refused (the API's reason is printed), 2 when ingest could not be reached.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Annotated

import typer

app = typer.Typer(add_completion=False)


def erase(url: str, token: str, member_id: str, timeout_s: float = 30.0) -> tuple[int, dict]:
    """(HTTP status, JSON answer) of the erasure request."""
    request = urllib.request.Request(f"{url.rstrip('/')}/v1/members/{urllib.parse.quote(member_id, safe='')}",
                                     method="DELETE", headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        try:
            return error.code, json.loads(error.read() or b"{}")
        except ValueError:
            return error.code, {}


@app.command()
def main(
    member_id: Annotated[str, typer.Argument(help="The member's id (pseudonym) to erase")],
    url: Annotated[str, typer.Option(help="Ingest's base URL")] = "http://localhost:8000",
    token: Annotated[str, typer.Option(envvar="CARECIRCLE_ADMIN_TOKEN", help="Admin token", show_default=False)] = "",
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation")] = False,
) -> None:
    if not token:
        typer.echo("an admin token is needed: --token or CARECIRCLE_ADMIN_TOKEN", err=True)
        raise typer.Exit(1)
    if not yes:
        typer.confirm(f"Erase member {member_id}? This cannot be undone", abort=True)
    try:
        status, answer = erase(url, token, member_id)
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        typer.echo(f"ingest unreachable at {url}: {type(error).__name__}", err=True)
        raise typer.Exit(2) from None
    if status == 202:
        typer.echo(f"erased {member_id} (event {answer.get('event_id')}): the data key is destroyed; "
                   "every service re-keys the member's rows")
        return
    typer.echo(f"refused ({status}): {json.dumps(answer.get('detail', answer))}", err=True)
    raise typer.Exit(1)


if __name__ == "__main__":
    app()
