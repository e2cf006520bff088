"""Write docs/configuration.md: every setting of every service, read from the settings classes themselves.

    python -m docs.configuration            # rewrite docs/configuration.md
    python -m docs.configuration --check    # exit 1 when the page is stale (tests/docs runs the same check)

The pydantic-settings classes (`services/common/settings.py` and every `services/<name>/settings.py`)
are the one definition of a setting: its environment variable, type, default and description come
from the field, so the page cannot drift from the code — a new setting only needs this command rerun.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import sys
import types
import typing
from datetime import time
from enum import Enum
from pathlib import Path

import annotated_types
from pydantic import AliasChoices, BaseModel, SecretStr
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "configuration.md"
COMMON_MODULE = "services.common.settings"

HEADER = """# Configuration reference

Back to the [index](../README.md).

**Generated** by `python -m docs.configuration` from the pydantic-settings classes; do not edit by hand
(`tests/docs/test_configuration_reference.py` fails when this page is stale — rerun the command).

Every service reads its settings from environment variables (names are case-insensitive). A setting
marked *required* has no default: the service refuses to start without it. Values of type list, tuple
or dict are JSON (`SURVEY_REMINDER_AFTER_DAYS='[1, 3]'`). `<repo>` stands for the repository root.
Which values each deployment sets: [deploy](deploy.md) (`make run` uses the defaults plus the
development `JWT_SECRET` printed by the Makefile).
"""


def settings_modules() -> list[str]:
    """The common settings first, then the shared mixins (`services/common/*_settings.py`, e.g. the
    waiting-room bounds), then each service's, in name order (a new service or mixin is found by itself)."""
    services = sorted(p.parent.name for p in (ROOT / "services").glob("*/settings.py") if p.parent.name != "common")
    mixins = sorted(p.stem for p in (ROOT / "services" / "common").glob("*_settings.py"))
    return [COMMON_MODULE, *(f"services.common.{name}" for name in mixins),
            *(f"services.{name}.settings" for name in services)]


def users_of(mixin: type[BaseSettings]) -> list[str]:
    """The services whose settings classes inherit `mixin` (`python -m services.<name>`)."""
    modules = [m for m in settings_modules() if not m.startswith("services.common.")]
    return [module.rsplit(".", 1)[0] for module in modules
            if any(issubclass(cls, mixin) for cls in settings_classes(module))]


def settings_classes(module_name: str) -> list[type[BaseSettings]]:
    module = importlib.import_module(module_name)
    return [cls for _, cls in inspect.getmembers(module, inspect.isclass)
            if issubclass(cls, BaseSettings) and cls.__module__ == module_name]


def own_fields(cls: type[BaseSettings]) -> dict[str, FieldInfo]:
    """Fields this class declares (inherited ones are listed once, under the class that declares them)."""
    inherited: dict[str, FieldInfo] = {}
    for base in cls.__mro__[1:]:
        if isinstance(base, type) and issubclass(base, BaseModel) and base is not BaseSettings:
            inherited.update(base.model_fields)
    return {name: field for name, field in cls.model_fields.items()
            if name not in inherited or repr(inherited[name]) != repr(field)}


def env_names(name: str, field: FieldInfo) -> str:
    alias = field.validation_alias
    if isinstance(alias, str):
        names = [alias]
    elif isinstance(alias, AliasChoices):
        names = [choice for choice in alias.choices if isinstance(choice, str)]
    else:
        names = [field.alias or name]
    return " or ".join(f"`{n.upper()}`" for n in names)


def type_name(annotation: object) -> str:
    if annotation is SecretStr:
        return "secret string"
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return " | ".join(json.dumps(a) for a in typing.get_args(annotation))
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        optional = len(args) < len(typing.get_args(annotation))
        return " | ".join(type_name(a) for a in args) + (", optional" if optional else "")
    if origin is not None:
        args = typing.get_args(annotation)
        inner = ", ".join("…" if a is Ellipsis else type_name(a) for a in args)
        return f"{origin.__name__}[{inner}]"
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return " | ".join(json.dumps(m.value) for m in annotation)
    return getattr(annotation, "__name__", str(annotation))


def constraints(field: FieldInfo) -> str:
    bounds = {annotated_types.Ge: ("≥", "ge"), annotated_types.Gt: (">", "gt"),
              annotated_types.Le: ("≤", "le"), annotated_types.Lt: ("<", "lt")}
    parts = []
    for meta in field.metadata:
        for kind, (sign, attribute) in bounds.items():
            if isinstance(meta, kind):
                parts.append(f"{sign} {getattr(meta, attribute)}")
        if isinstance(meta, annotated_types.MinLen):
            parts.append(f"at least {meta.min_length} characters")
        if isinstance(meta, annotated_types.MaxLen):
            parts.append(f"at most {meta.max_length} characters")
    return ", ".join(parts)


def default_text(field: FieldInfo) -> str:
    if field.is_required():
        return "*required*"
    value = field.default_factory() if field.default_factory is not None else field.default
    if value is None:
        return "— (unset)"
    if isinstance(value, SecretStr):
        return "*(secret)*"
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, time):
        text = value.strftime("%H:%M")
    elif isinstance(value, Enum):
        text = str(value.value)
    elif isinstance(value, (dict, list, tuple)):
        text = json.dumps(value, ensure_ascii=False)
    else:
        text = str(value)
    return f"`{text.replace(str(ROOT), '<repo>')}`"


def cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def section(cls: type[BaseSettings], module_name: str) -> str:
    fields = own_fields(cls)
    where = module_name.replace(".", "/") + ".py"
    if module_name == COMMON_MODULE:
        scope = "every service"
    elif module_name.startswith("services.common."):
        scope = ", ".join(f"`python -m {service}`" for service in users_of(cls)) or "no service yet"
    else:
        scope = f"`python -m {module_name.rsplit('.', 1)[0]}`"
    doc = inspect.getdoc(cls) if cls.__doc__ else ""
    lines = [f"## `{cls.__name__}` ({scope})", "", f"Defined in `{where}`." + (f" {doc}" if doc else ""), ""]
    if not fields:
        return "\n".join([*lines, "No settings of its own.", ""])
    lines += ["| variable | type | default | description |", "|---|---|---|---|"]
    for name, field in fields.items():
        kind = type_name(field.annotation)
        limits = constraints(field)
        description = (field.description or "—").replace("<", "&lt;").replace(">", "&gt;")
        lines.append(f"| {env_names(name, field)} | {cell(kind)}{cell(f', {limits}') if limits else ''} "
                     f"| {cell(default_text(field))} | {cell(description)} |")
    return "\n".join([*lines, ""])


def render() -> str:
    sections = [section(cls, module) for module in settings_modules() for cls in settings_classes(module)]
    return "\n".join([HEADER, *sections])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when docs/configuration.md is stale")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        stale = not PAGE.exists() or PAGE.read_text(encoding="utf-8") != text
        print(f"{PAGE.relative_to(ROOT)} is {'stale: run python -m docs.configuration' if stale else 'up to date'}")
        return 1 if stale else 0
    PAGE.write_text(text, encoding="utf-8")
    print(f"wrote {PAGE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
