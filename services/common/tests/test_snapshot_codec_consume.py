"""A restore decodes the snapshot's JSON tree while emptying it (services/common/snapshots.unpack), so
the tree and the state are never both whole in memory (docs/scale.md, "Restore memory")."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date, datetime, timezone

import orjson

from services.notifier.snapshot import CODEC
from services.notifier.symptoms import Scored


def _state() -> dict:
    at = datetime(2026, 5, 1, 9, tzinfo=timezone.utc)
    return {"days": {("m-1", date(2026, 5, d)): [d, {d, d + 1}] for d in range(1, 20)},
            "counts": Counter(a=2, b=3), "by": defaultdict(set, {"k": {1, 2}}),
            "scored": {"m-1": {"T0": Scored("T0", at, {"QL": 50.0})}}, "when": at}


def _lists(tree) -> list[list]:
    if isinstance(tree, list):
        return [tree, *(x for item in tree for x in _lists(item))]
    if isinstance(tree, dict):
        return [x for value in tree.values() for x in _lists(value)]
    return []


def test_a_consuming_decode_gives_the_same_state_and_leaves_the_tree_empty():
    tree = CODEC.encode(_state())
    kept = orjson.loads(orjson.dumps(tree))
    consumed = CODEC.decode(tree, consume=True)
    assert CODEC.encode(consumed) == kept == CODEC.encode(CODEC.decode(kept))
    assert all(item is None for items in _lists(tree) for item in items)  # nothing of the state is left in it
