"""A benchmark's findings as bullet lines: printed, and left in bench/out/<name>.md for bench.run."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

OUT = Path(__file__).parent / "out"


def bullet_report(name: str, title: str, lines: list[str], console: Console | None = None) -> None:
    for line in lines:
        (console or Console()).print(line)
    OUT.mkdir(exist_ok=True)
    (OUT / f"{name}.md").write_text(f"# {title}\n\n" + "".join(f"* {line}\n" for line in lines))
