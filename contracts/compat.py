"""Breaking-change check between two versions of a published contract (OpenAPI or AsyncAPI).

Pure (documents in, findings out). What breaks an existing client or consumer:
* OpenAPI: an endpoint removed; in a request body or parameter, a field removed, a type or enum
  narrowed, a new required field or parameter; in a response, a field removed or no longer required,
  a type changed.
* AsyncAPI: a channel or message removed; in a message, a field removed or no longer required, a
  type changed (consumers read messages as responses).
A breaking change is allowed only with a higher major number in `info.version` (docs/clients.md).
"""

from __future__ import annotations

from typing import Any

METHODS = ("get", "put", "post", "delete", "patch")


def major(document: dict) -> int:
    return int(str(document.get("info", {}).get("version", "0")).split(".")[0])


class _Schemas:
    def __init__(self, old_doc: dict, new_doc: dict) -> None:
        self.old_doc, self.new_doc = old_doc, new_doc

    @staticmethod
    def resolve(doc: dict, schema: Any, seen: frozenset = frozenset()) -> tuple[dict, frozenset]:
        while isinstance(schema, dict) and "$ref" in schema:
            ref = schema["$ref"]
            if ref in seen:
                return {}, seen
            seen = seen | {ref}
            node: Any = doc
            for part in ref.lstrip("#/").split("/"):
                node = node.get(part, {}) if isinstance(node, dict) else {}
            schema = node
        return (schema if isinstance(schema, dict) else {}), seen


def _types(schema: dict, doc: dict) -> set[str]:
    """The JSON types a schema accepts (unions flattened); empty when unconstrained."""
    found: set[str] = set()
    kind = schema.get("type")
    if isinstance(kind, str):
        found.add(kind)
    elif isinstance(kind, list):
        found.update(kind)
    for key in ("anyOf", "oneOf"):
        for part in schema.get(key, []):
            resolved, _ = _Schemas.resolve(doc, part)
            inner = _types(resolved, doc)
            if not inner:
                return set()  # one branch accepts anything
            found |= inner
    if "integer" in found and "number" in found:
        found.discard("integer")
    return found


def _variants(schema: dict) -> dict[str, dict]:
    """Named branches of a union of references (e.g. the event types of a discriminated union)."""
    parts = schema.get("oneOf") or schema.get("anyOf") or []
    named = {p["$ref"].rsplit("/", 1)[-1]: p for p in parts if isinstance(p, dict) and "$ref" in p}
    return named if len(named) == len(parts) and len(named) > 1 else {}


def compare_schema(old: Any, new: Any, old_doc: dict, new_doc: dict, where: str, reading: bool,
                   seen: frozenset = frozenset()) -> list[str]:
    """`reading`: the other side reads this (a response, a message); else it writes it (a request)."""
    old, seen_old = _Schemas.resolve(old_doc, old, seen)
    new, seen_new = _Schemas.resolve(new_doc, new, seen)
    seen = seen_old | seen_new
    found: list[str] = []
    old_variants, new_variants = _variants(old), _variants(new)
    if old_variants:
        for name, branch in old_variants.items():
            if name not in new_variants:
                found.append(f"{where}: variant {name} removed")
            else:
                found += compare_schema(branch, new_variants[name], old_doc, new_doc, f"{where}<{name}>", reading, seen)
        return found
    for key in ("anyOf", "oneOf"):  # an inline union (e.g. one event or a list of them): branch by branch
        if len(old.get(key, [])) > 1 and len(old[key]) == len(new.get(key, [])):
            for i, (before, after) in enumerate(zip(old[key], new[key])):
                found += compare_schema(before, after, old_doc, new_doc, f"{where}|{i}", reading, seen)
    old_types, new_types = _types(old, old_doc), _types(new, new_doc)
    if old_types and new_types:
        if reading and not new_types <= old_types:
            found.append(f"{where}: type changed from {sorted(old_types)} to {sorted(new_types)}")
        if not reading and not old_types <= new_types:
            found.append(f"{where}: type narrowed from {sorted(old_types)} to {sorted(new_types)}")
    elif old_types and not new_types and reading:
        found.append(f"{where}: type no longer declared (was {sorted(old_types)})")
    elif new_types and not old_types and not reading:
        found.append(f"{where}: type narrowed to {sorted(new_types)}")
    if not reading and "enum" in old and "enum" in new and set(old["enum"]) - set(new["enum"]):
        found.append(f"{where}: enum values removed {sorted(map(str, set(old['enum']) - set(new['enum'])))}")
    if not reading and "enum" in new and "enum" not in old and "const" not in old:
        found.append(f"{where}: narrowed to an enum")
    old_props, new_props = old.get("properties", {}), new.get("properties", {})
    old_required, new_required = set(old.get("required", [])), set(new.get("required", []))
    for name, schema in old_props.items():
        if name not in new_props:
            found.append(f"{where}.{name}: field removed")
        else:
            found += compare_schema(schema, new_props[name], old_doc, new_doc, f"{where}.{name}", reading, seen)
    if reading:
        found += [f"{where}.{n}: no longer always present" for n in sorted(old_required - new_required) if n in new_props]
    else:
        found += [f"{where}.{n}: new required field" for n in sorted(new_required - old_required)]
    if "items" in old and "items" in new:
        found += compare_schema(old["items"], new["items"], old_doc, new_doc, f"{where}[]", reading, seen)
    return found


def _json_body(holder: dict) -> Any:
    return holder.get("content", {}).get("application/json", {}).get("schema")


def openapi_breaks(old: dict, new: dict) -> list[str]:
    found: list[str] = []
    for path, old_item in old.get("paths", {}).items():
        new_item = new.get("paths", {}).get(path)
        for method in METHODS:
            if method not in old_item:
                continue
            op = f"{method.upper()} {path}"
            if new_item is None or method not in new_item:
                found.append(f"{op}: endpoint removed")
                continue
            before, after = old_item[method], new_item[method]
            old_params = {(p.get("in"), p.get("name")): p for p in before.get("parameters", [])}
            for p in after.get("parameters", []):
                key = (p.get("in"), p.get("name"))
                if p.get("required") and (key not in old_params or not old_params[key].get("required")):
                    found.append(f"{op}: new required {key[0]} parameter {key[1]}")
                elif key in old_params:
                    found += compare_schema(old_params[key].get("schema"), p.get("schema"), old, new,
                                            f"{op} {key[0]} {key[1]}", reading=False)
            old_body, new_body = before.get("requestBody"), after.get("requestBody")
            if new_body and new_body.get("required") and not (old_body and old_body.get("required")):
                found.append(f"{op}: request body now required")
            if old_body and new_body and _json_body(old_body) and _json_body(new_body):
                found += compare_schema(_json_body(old_body), _json_body(new_body), old, new, f"{op} body", False)
            for status, response in before.get("responses", {}).items():
                if not str(status).startswith("2"):
                    continue
                new_response = after.get("responses", {}).get(status)
                if new_response is None:
                    found.append(f"{op}: response {status} removed")
                elif _json_body(response) and _json_body(new_response):
                    found += compare_schema(_json_body(response), _json_body(new_response), old, new,
                                            f"{op} {status}", reading=True)
    return found


def asyncapi_breaks(old: dict, new: dict) -> list[str]:
    found: list[str] = []
    for name, channel in old.get("channels", {}).items():
        new_channel = new.get("channels", {}).get(name)
        if new_channel is None:
            found.append(f"channel {name}: removed")
            continue
        for message in channel.get("messages", {}):
            if message not in new_channel.get("messages", {}):
                found.append(f"channel {name}: message {message} removed")
    for name, message in old.get("components", {}).get("messages", {}).items():
        new_message = new.get("components", {}).get("messages", {}).get(name)
        if new_message is None:
            continue  # reported per channel
        found += compare_schema(message.get("payload"), new_message.get("payload"), old, new, f"message {name}",
                                reading=True)
    return found


def breaking_changes(old: dict, new: dict) -> list[str]:
    """Breaking changes from `old` to `new` that the version does not allow (empty: compatible)."""
    found = asyncapi_breaks(old, new) if "asyncapi" in old else openapi_breaks(old, new)
    return [] if major(new) > major(old) else found
