"""YAML reading/writing shared by the generator, the renderer and the checks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


class _IndentedDumper(yaml.SafeDumper):
    """Indents block sequences under their key (yamllint's default `indent-sequences: true`)."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:  # noqa: ARG002
        return super().increase_indent(flow, False)


def dump_all(documents: list[dict[str, Any]], header: str = "") -> str:
    body = yaml.dump_all(
        documents, Dumper=_IndentedDumper, sort_keys=False, explicit_start=True, width=70, allow_unicode=True
    )
    return header + body


def load_all(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        return [doc for doc in yaml.safe_load_all(handle) if doc is not None]


def load(path: Path) -> Any:
    with path.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)
