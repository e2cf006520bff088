"""Publish the API contracts: `python -m contracts.publish` writes

* contracts/openapi/<service>.json — each service's OpenAPI document (from its FastAPI app);
* contracts/asyncapi.yaml — the topics (contracts/topics.py) and their messages (the models of
  contracts/generate.py SCHEMAS) as an AsyncAPI 2.6 document.

The committed documents are the compatibility baseline (docs/clients.md): publishing refuses a
breaking change (contracts/compat.py) unless the document's `info.version` major number is higher.
`--check` exits 1 when a committed document is stale or a change is breaking (run by the tests).
Other branches change the APIs too: rerun this after every merge.
"""

from __future__ import annotations

import fnmatch
import importlib
import json
import os
import sys
from pathlib import Path
from typing import Any

import yaml
from pydantic import TypeAdapter

from .compat import breaking_changes
from .events import CLIENT_EVENT_TYPES
from .generate import SCHEMAS
from .topics import CATALOGUE, Topic

ROOT = Path(__file__).parent
OPENAPI_DIR = ROOT / "openapi"
ASYNCAPI = ROOT / "asyncapi.yaml"
ASYNCAPI_VERSION = "1.0.0"  # bump the major number with a breaking change to a message or topic
DEAD_LETTERS = {"engagement.events.dlq": "engagement.dead_letter", "notifications.dlq": "notification.dead_letter"}


def openapi_documents() -> dict[str, dict]:
    """Each service's document, from its app built with development settings (nothing is started)."""
    os.environ.setdefault("AUTH_DEV", "1")
    os.environ.setdefault("JWT_SECRET", "contracts-publish-only-0123456789abcdef")
    documents = {}
    from services.catalogue import SERVICES  # the one list of services; a new one is published too

    for name in (service.name for service in SERVICES):
        app = importlib.import_module(f"services.{name}.app").create_app()
        documents[name] = json.loads(json.dumps(app.openapi()))  # tuples → lists, as read back from disk
    return documents


def messages_of(topic: Topic) -> list[str]:
    names: list[str] = []
    for value in topic.values:
        if value in CLIENT_EVENT_TYPES:
            value = "client-event"
        elif value == "dead_letter":
            value = DEAD_LETTERS[topic.name]
        names += [n for n in SCHEMAS if fnmatch.fnmatchcase(n, value) and n not in names
                  and (n == value or n not in DEAD_LETTERS.values())]  # dead letters live on their own topic
    return names


def asyncapi_document() -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for name, model in SCHEMAS.items():
        schema = TypeAdapter(model).json_schema(mode="serialization", ref_template="#/components/schemas/{model}")
        for def_name, definition in schema.pop("$defs", {}).items():
            if schemas.setdefault(def_name, definition) != definition:
                raise ValueError(f"two models define {def_name} differently: rename one")
        messages[name] = {"name": name, "contentType": "application/json", "payload": schema}
    channels = {}
    for topic in CATALOGUE:
        channels[topic.name] = {
            "description": f"{topic.description}. Key: {topic.key}. Partitions: {topic.partitions}; "
                           f"{'compacted' if topic.compacted else 'retention ' + str(topic.retention_ms) + ' ms'}.",
            "subscribe": {"message": {"oneOf": [{"$ref": f"#/components/messages/{m}"} for m in messages_of(topic)]}},
            "messages": {m: {"$ref": f"#/components/messages/{m}"} for m in messages_of(topic)},
        }
    return {"asyncapi": "2.6.0",
            "info": {"title": "CareCircle topics", "version": ASYNCAPI_VERSION,
                     "description": "Kafka topics of CareCircle and their JSON messages (generated: python -m contracts.publish)."},
            "defaultContentType": "application/json", "channels": channels,
            "components": {"messages": messages, "schemas": dict(sorted(schemas.items()))}}


def render() -> dict[Path, tuple[dict, str]]:
    out = {OPENAPI_DIR / f"{name}.json": (doc, json.dumps(doc, indent=2, sort_keys=True) + "\n")
           for name, doc in openapi_documents().items()}
    doc = asyncapi_document()
    out[ASYNCAPI] = (doc, yaml.safe_dump(doc, sort_keys=True, allow_unicode=True, width=120))
    return out


def load(path: Path) -> dict | None:
    if not path.exists():
        return None
    return yaml.safe_load(path.read_text()) if path.suffix == ".yaml" else json.loads(path.read_text())


def problems(rendered: dict[Path, tuple[dict, str]]) -> tuple[list[str], list[str]]:
    """(breaking changes against the committed baseline, stale files)."""
    breaks, stale = [], []
    for path, (doc, text) in rendered.items():
        baseline = load(path)
        name = path.relative_to(ROOT.parent)
        if baseline is not None:
            breaks += [f"{name}: {b}" for b in breaking_changes(baseline, doc)]
        if baseline is None or path.read_text() != text:
            stale.append(str(name))
    return breaks, stale


def main(argv: list[str]) -> int:
    rendered = render()
    breaks, stale = problems(rendered)
    for line in breaks:
        print(f"breaking: {line}", file=sys.stderr)
    if breaks:
        print("a breaking change needs a higher major number in info.version (docs/clients.md)", file=sys.stderr)
        return 1
    if "--check" in argv:
        for name in stale:
            print(f"stale: {name} (run: python -m contracts.publish)", file=sys.stderr)
        return 1 if stale else 0
    OPENAPI_DIR.mkdir(exist_ok=True)
    for path, (_, text) in rendered.items():
        path.write_text(text)
    print(f"wrote {len(rendered)} documents ({len(stale)} changed)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
