"""Turn a service's folded state into JSON and back (pure: no I/O), for snapshots.

The states are plain Python (dicts keyed by tuples or dates, sets, dataclasses, the `contracts`
models, a few small classes). JSON cannot hold most of that, and pickle would run whatever a record
on the topic says, so this codec writes a tagged JSON tree and rebuilds only what it is allowed to:

* built-in values, lists, tuples, sets, frozensets, dicts (any hashable keys), `defaultdict`,
  `Counter`, `datetime` (with its zone name when it has one), `date`, `time`, `timedelta`, `UUID`;
* pydantic models of the `contracts` package (validated again on the way back);
* the classes a service registers: dataclasses by their fields, other classes by their attributes
  (each must build with no arguments, so the codec knows which attributes it must find).

`StateCodec.shape` is a digest of the registered classes and their fields: a snapshot written when a
class had other fields is refused as incompatible instead of restoring a state the code cannot use.
Anything unexpected raises `SnapshotError` (never a half-restored state).
"""

from __future__ import annotations

import dataclasses
import hashlib
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ValidationError


class SnapshotError(ValueError):
    """A snapshot that cannot be restored; `reason` is a metric label (corrupt, incompatible, ...)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


def _name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _attributes(cls: type) -> tuple[str, ...]:
    """The attributes that make up an instance of a registered class."""
    if dataclasses.is_dataclass(cls):
        return tuple(f.name for f in dataclasses.fields(cls))
    slots = [s for klass in cls.__mro__ for s in getattr(klass, "__slots__", ())]
    try:
        instance = cls()
    except TypeError as exc:
        raise TypeError(f"{_name(cls)} must build with no arguments to be snapshotted") from exc
    found = set(vars(instance)) if hasattr(instance, "__dict__") else set()
    return tuple(sorted(found | {s for s in slots if s != "__weakref__"}))


def _ordered(items: set | frozenset) -> list:
    """A set's items sorted when they can be (the same state gives the same snapshot bytes)."""
    try:
        return sorted(items)
    except TypeError:
        return list(items)


class StateCodec:
    def __init__(self, version: str, classes: Iterable[type], factories: Iterable[type] = ()) -> None:
        self._classes = {_name(c): c for c in classes}
        self._fields = {name: _attributes(c) for name, c in self._classes.items()}
        # what a defaultdict may build its missing values with
        self._factories = {_name(f): f for f in (set, dict, list, *factories)}
        digest = hashlib.sha256(f"{version};".encode())  # the state's own version: bump it when its dict changes
        for name in sorted(self._fields):
            digest.update(f"{name}:{','.join(self._fields[name])};".encode())
        self.shape = digest.hexdigest()[:32]

    # --- encoding -------------------------------------------------------------------------------

    def encode(self, value: Any) -> Any:
        if value is None or isinstance(value, bool | int | float | str):
            return value
        if isinstance(value, list):
            return [self.encode(v) for v in value]
        if isinstance(value, tuple):
            return {"$t": [self.encode(v) for v in value]}
        if isinstance(value, frozenset):
            return {"$f": [self.encode(v) for v in _ordered(value)]}
        if isinstance(value, set):
            return {"$s": [self.encode(v) for v in _ordered(value)]}
        if isinstance(value, Counter):
            return {"$c": self._pairs(value)}
        if isinstance(value, defaultdict):
            factory = _name(value.default_factory) if value.default_factory else ""
            if factory not in self._factories:
                raise TypeError(f"defaultdict of {factory or 'None'} is not registered")
            return {"$dd": factory, "$v": self._pairs(value)}
        if isinstance(value, dict):
            return {"$d": self._pairs(value)}
        if isinstance(value, datetime):
            zone = value.tzinfo.key if isinstance(value.tzinfo, ZoneInfo) else None
            return {"$dt": value.isoformat(), **({"z": zone} if zone else {})}
        if isinstance(value, date):
            return {"$da": value.isoformat()}
        if isinstance(value, time):
            return {"$tm": value.isoformat()}
        if isinstance(value, timedelta):
            return {"$td": [value.days, value.seconds, value.microseconds]}
        if isinstance(value, UUID):
            return {"$u": str(value)}
        if isinstance(value, BaseModel):
            if not type(value).__module__.startswith("contracts."):
                raise TypeError(f"{_name(type(value))} is not a contracts model")
            return {"$m": _name(type(value)), "$v": value.model_dump(mode="json")}
        name = _name(type(value))
        if name in self._classes:
            return {"$o": name, "$v": {a: self.encode(getattr(value, a)) for a in self._fields[name]}}
        raise TypeError(f"{name} cannot be snapshotted (register it)")

    def _pairs(self, mapping: dict) -> list:
        return [[self.encode(k), self.encode(v)] for k, v in mapping.items()]

    # --- decoding -------------------------------------------------------------------------------

    def decode(self, tree: Any, consume: bool = False) -> Any:
        """The value `tree` encodes. `consume=True` empties the tree's lists while it decodes (each item
        is dropped once its value exists), so a restore never holds the whole tree and the whole state
        at once; the tree is useless afterwards."""
        try:
            return self._decode(tree, consume)
        except SnapshotError:
            raise
        except (ValidationError, ValueError, TypeError, KeyError, AttributeError, IndexError) as exc:
            # the type only: a message could quote state (member ids)
            raise SnapshotError("corrupt", f"state does not decode: {type(exc).__name__}") from None

    def _decode(self, tree: Any, consume: bool = False) -> Any:
        if tree is None or isinstance(tree, bool | int | float | str):
            return tree
        if isinstance(tree, list):
            return self._items(tree, consume)
        if not isinstance(tree, dict) or not tree:
            raise TypeError("not a tagged value")
        tag = next(iter(tree))
        body = tree[tag]
        if tag == "$t":
            return tuple(self._items(body, consume))
        if tag == "$f":
            return frozenset(self._items(body, consume))
        if tag == "$s":
            return set(self._items(body, consume))
        if tag == "$c":
            return Counter(self._mapping(body, consume))
        if tag == "$dd":
            factory = self._factories.get(body)
            if factory is None:
                raise SnapshotError("incompatible", "defaultdict factory not registered")
            return defaultdict(factory, self._mapping(tree["$v"], consume))
        if tag == "$d":
            return self._mapping(body, consume)
        if tag == "$dt":
            value = datetime.fromisoformat(body)
            return value.astimezone(ZoneInfo(tree["z"])) if "z" in tree else value
        if tag == "$da":
            return date.fromisoformat(body)
        if tag == "$tm":
            return time.fromisoformat(body)
        if tag == "$td":
            return timedelta(days=body[0], seconds=body[1], microseconds=body[2])
        if tag == "$u":
            return UUID(body)
        if tag == "$m":
            return self._model(body).model_validate(tree["$v"])
        if tag == "$o":
            return self._object(body, tree["$v"], consume)
        raise TypeError("unknown tag")

    def _items(self, items: list, consume: bool) -> list:
        if not consume:
            return [self._decode(v) for v in items]
        out = []
        for i, value in enumerate(items):
            items[i] = None  # the tree's last reference to this item: freed once decoded
            out.append(self._decode(value, True))
            del value
        return out

    def _mapping(self, pairs: list, consume: bool = False) -> dict:
        if not consume:
            return {self._decode(k): self._decode(v) for k, v in pairs}
        out = {}
        for i, pair in enumerate(pairs):
            pairs[i] = None
            key, value = pair
            del pair
            out[self._decode(key, True)] = self._decode(value, True)
            del value
        return out

    @staticmethod
    def _model(name: str) -> type[BaseModel]:
        module_name, _, qualname = name.rpartition(".")
        module = sys.modules.get(module_name) if module_name.startswith("contracts.") else None
        model = getattr(module, qualname, None) if module is not None else None
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            raise SnapshotError("incompatible", "unknown contracts model")
        return model

    def _object(self, name: str, attributes: dict, consume: bool = False) -> Any:
        cls = self._classes.get(name)
        if cls is None or set(attributes) != set(self._fields[name]):
            raise SnapshotError("incompatible", "class not registered or its fields changed")
        instance = cls.__new__(cls)
        for attribute in list(attributes):
            value = attributes.pop(attribute) if consume else attributes[attribute]
            object.__setattr__(instance, attribute, self._decode(value, consume))  # frozen dataclasses too
        return instance
