"""`python -m services.common.dlq list|show|replay`: look at dead letters and replay them.

Prints the pseudonymous member id, the reason and the record's place, never the message text or the
event payload. `replay` writes `notification.replayed` records (the notifier delivers each once, despite
the earlier dedup); `--dry-run` prints the plan and writes nothing; replaying again sends nothing new.
"""

from __future__ import annotations

import getpass
import os
import sys
from datetime import datetime, timezone
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import track
from rich.table import Table

from contracts.topics import DEAD_LETTER_TOPICS, NOTIFICATIONS_OUTBOUND
from services.common.kafka_security import KafkaSecurityError

from . import letters as dl
from .log import publish_replays, read_all

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Dead letters of CareCircle (*.dlq topics): list, show, replay. See docs/operations.md.")
DLQ_NAMES = [t.name for t in DEAD_LETTER_TOPICS]

Bootstrap = Annotated[str, typer.Option("--bootstrap", envvar="KAFKA_BOOTSTRAP", help="Kafka bootstrap servers")]
Idle = Annotated[float, typer.Option("--idle", min=0.2, max=30, help="Seconds without a new record that end a read")]
ConnectTimeout = Annotated[float, typer.Option(
    "--connect-timeout", min=0.5, max=300, help="Seconds to wait for the broker to answer before giving up")]
Topics = Annotated[
    list[str] | None, typer.Option("--topic", "-t", help=f"Dead-letter topic(s); default: {', '.join(DLQ_NAMES)}")
]


def _console() -> Console:
    # Not a terminal (a pipe, a log, a test): wide enough that ids are never cut.
    return Console(width=None if sys.stdout.isatty() else 200, highlight=False)


def _topics(topics: list[str] | None) -> list[str]:
    chosen = topics or DLQ_NAMES
    unknown = [t for t in chosen if t not in DLQ_NAMES]
    if unknown:
        raise typer.BadParameter(f"{', '.join(unknown)} is not a dead-letter topic (known: {', '.join(DLQ_NAMES)})",
                                 param_hint="--topic")
    return chosen


def _read(bootstrap: str, topics: list[str], idle: float,
          connect_timeout: float) -> tuple[list[dl.Letter], dl.OutboundHistory]:
    found: list[dl.Letter] = []
    try:
        for topic in topics:
            found += [dl.parse(topic, *record) for record in read_all(bootstrap, topic, idle, connect_timeout)]
        history = dl.OutboundHistory()
        if dl.REPLAYABLE in topics:
            for _, _, _, value in read_all(bootstrap, NOTIFICATIONS_OUTBOUND.name, idle, connect_timeout):
                history.fold(value)
    except (LookupError, KafkaSecurityError) as exc:  # messages name the topic or the setting, no secret
        _fail(str(exc))
    except Exception as exc:  # broker unreachable: one line, no stack trace
        _fail(f"cannot read from Kafka at {bootstrap}: {type(exc).__name__}")
    return found, history


def _fail(message: str, code: int = 1) -> None:
    Console(stderr=True, highlight=False).print(f"[red]error:[/red] {message}")
    raise typer.Exit(code)


def _table(rows: list[tuple[dl.Letter, str]], title: str) -> Table:
    table = Table(title=title, title_justify="left")
    # The names an operator copies (where, id, member) and the status are never wrapped: a long reason or
    # member id of another letter would otherwise squeeze them and fold an id over two lines.
    whole = {"where", "id", "member", "status"}
    for column in ("where", "id", "member", "kind", "channel", "attempts", "at", "reason", "status"):
        table.add_column(column, overflow="fold", no_wrap=column in whole)
    for letter, status in rows:
        s = letter.summary()
        table.add_row(s["where"], s["id"], s["member"], s["kind"], s["channel"], s["attempts"], s["at"], s["reason"],
                      status)
    return table


def _status(action: str) -> str:
    return {"replay": "pending", "not replayable": "-"}.get(action, action)


@app.command("list")
def list_letters(bootstrap: Bootstrap = "127.0.0.1:9092", topic: Topics = None, idle: Idle = 1.0,
                 connect_timeout: ConnectTimeout = 30.0) -> None:
    """Every dead letter with its reason and replay status."""
    found, history = _read(bootstrap, _topics(topic), idle, connect_timeout)
    console = _console()
    if not found:
        console.print("no dead letters")
        return
    console.print(_table([(x, _status(a)) for x, a in dl.plan(found, history)], f"{len(found)} dead letters"))


@app.command()
def show(letter_id: Annotated[str, typer.Argument(help="event id (or a unique prefix), or topic/partition/offset")],
         bootstrap: Bootstrap = "127.0.0.1:9092", topic: Topics = None, idle: Idle = 1.0,
         connect_timeout: ConnectTimeout = 30.0) -> None:
    """One dead letter in full (without the message text or event payload)."""
    found, history = _read(bootstrap, _topics(topic), idle, connect_timeout)
    chosen, unknown = dl.select(found, [letter_id])
    if unknown:
        _fail(f"no single dead letter {unknown[0]}")
    letter, action = dl.plan(chosen, history)[0]
    console = _console()
    for name, value in {**letter.summary(), "dedup_key": letter.dedup_key or "-", "status": _status(action)}.items():
        console.print(f"{name:>10}: {value}")
    if letter.topic in dl.WHY_NOT_REPLAYABLE:
        console.print(f"{'replay':>10}: not needed: {dl.WHY_NOT_REPLAYABLE[letter.topic]}")


@app.command()
def replay(
    letter_ids: Annotated[
        list[str] | None, typer.Argument(help="event ids (or unique prefixes) or topic/partition/offset")
    ] = None,
    all_letters: Annotated[bool, typer.Option("--all", help="Every pending letter of notifications.dlq")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print what would be replayed; write nothing")] = False,
    by: Annotated[
        str | None, typer.Option("--by", help="Operator recorded on the replay (default: login name)")
    ] = None,
    bootstrap: Bootstrap = "127.0.0.1:9092",
    idle: Idle = 1.0,
    connect_timeout: ConnectTimeout = 30.0,
) -> None:
    """Deliver dead letters again: writes notification.replayed records that the notifier honours once."""
    if bool(letter_ids) == all_letters:
        _fail("name the letters to replay, or pass --all (not both)", code=2)
    operator = (by or os.environ.get("USER") or getpass.getuser() or "operator").strip()[:100]
    found, history = _read(bootstrap, DLQ_NAMES, idle, connect_timeout)
    if all_letters:
        chosen = [x for x in found if x.topic == dl.REPLAYABLE]
    else:
        chosen, unknown = dl.select(found, letter_ids or [])
        if unknown:
            _fail(f"no single dead letter {', '.join(unknown)}")
    planned = dl.plan(chosen, history)
    console = _console()
    for letter, action in planned:
        if action == "not replayable" and letter.topic in dl.WHY_NOT_REPLAYABLE:
            console.print(f"{letter.where}: not replayed: {dl.WHY_NOT_REPLAYABLE[letter.topic]}")
    todo = [x for x, action in planned if action == "replay"]
    skipped = len(planned) - len(todo)
    console.print(_table([(x, "would replay" if dry_run and a == "replay" else ("replay" if a == "replay" else a))
                          for x, a in planned], "replay plan" + (" (dry run: nothing written)" if dry_run else "")))
    if dry_run or not todo:
        console.print(f"{len(todo)} to replay, {skipped} skipped" + (" — dry run, nothing written" if dry_run else ""))
        return
    now = datetime.now(timezone.utc)
    replays = [dl.replay_of(x, operator, now) for x in todo]
    progress = iter(track(range(len(replays)), description="replaying", console=console, transient=True))
    try:
        publish_replays(bootstrap, replays, on_sent=lambda: next(progress, None), connect_timeout_s=connect_timeout)
    except Exception as exc:
        _fail(f"replay stopped: {type(exc).__name__}; run it again: letters already replayed are skipped")
    console.print(f"{len(replays)} replayed by {operator}, {skipped} skipped")


def main() -> None:
    app(prog_name="python -m services.common.dlq")
