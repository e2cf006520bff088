"""Erasure in ClickHouse (docs/erasure.md): a `member.erased` re-keys every row of the member to a
random pseudonym that is never recorded, keeping the rows' day facts, so every published cohort number
is unchanged while no table answers the member's id any more.

ClickHouse cannot UPDATE a sorting-key column, so each table's rows are copied under the pseudonym and
the originals deleted by a synchronous mutation (physically rewritten parts, not a hidden-row mark).
The materialized views on `events` are detached meanwhile: the aggregate tables are copied as they
are, and a view firing on the copied events would add rows bucketed by today's time zone instead.

The sink applies erasures in log order within its batches, and keeps the member → pseudonym map of
this process in memory only (`Pseudonyms`), so rows of the member read after the erasure (another
topic, or a rebuild from offset 0) land under the same pseudonym and the member's days stay whole.
A restarted sink reads the erasures before its stored positions again first (`Sink._load_erased`):
their members get fresh pseudonyms, so a late row of one is never stored under the id.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from services.common.pseudonyms import new_pseudonym

from .clickhouse import ClickHouse

# table → the column holding a member id (the audit trail names the member read in `target`).
ID_COLUMNS: dict[str, str] = {
    "events": "member_id", "enrolments": "member_id", "withdrawals": "member_id", "member_records": "member_id",
    "member_days": "member_id", "survey_scores": "member_id", "survey_invitations": "member_id",
    "member_day_events": "member_id", "aggregated_events": "member_id", "alert_events": "member_id",
    "staff_access": "target",
}
# String columns that embed the id in a serialized record (rewritten with it).
EMBEDDED_IDS: dict[str, tuple[str, ...]] = {"member_records": ("record",), "events": ("payload",)}
# Columns holding ids DERIVED from the member id (uuid5 of it: survey invitation, response and step ids,
# alert ids and their step ids): anyone holding the member id could recompute them and find the
# pseudonym's rows, so they are replaced by random ids too (one per value, the same for every row).
DERIVED_IDS: dict[str, tuple[str, ...]] = {"survey_scores": ("invitation_id", "response_id", "event_id"),
                                           "survey_invitations": ("invitation_id",),
                                           "alert_events": ("alert_id", "event_id")}
VIEWS_ON_EVENTS = ("member_day_events_mv", "aggregated_events_mv")
ERASURE_TABLE = "__member_erased__"  # the converter's marker row: an action for the sink, not a table


class Pseudonyms:
    """member id → pseudonym and derived id → random id, for this process only (never written anywhere)."""

    def __init__(self) -> None:
        self._by_member: dict[str, str] = {}
        self._ids: dict[str, str] = {}
        self._fresh: dict[str, str] = {}  # stand-ins handed out since `take_fresh` last ran

    def assign(self, member_id: str) -> str:
        return self._by_member.setdefault(member_id, new_pseudonym())

    def get(self, member_id: str) -> str | None:
        return self._by_member.get(member_id)

    def id_for(self, derived: str) -> str:
        """The random stand-in of an id derived from an erased member's id (the same one every time)."""
        if derived not in self._ids:
            self._ids[derived] = self._fresh[derived] = str(uuid.uuid4())
        return self._ids[derived]

    def take_fresh(self) -> dict[str, str]:
        """The stand-ins handed out since the last call (rows already stored may name their old ids)."""
        fresh, self._fresh = self._fresh, {}
        return fresh

    def __bool__(self) -> bool:
        return bool(self._by_member)

    def rewrite(self, table: str, row: dict[str, Any]) -> dict[str, Any]:
        """The row as it must be stored: an erased member's id replaced by the pseudonym, ids derived from
        it by their random stand-ins (an audit entry naming one of the member's alerts included)."""
        column = ID_COLUMNS.get(table)
        pseudonym = self._by_member.get(row.get(column, "")) if column else None
        if pseudonym is None:
            if column and self._ids and row.get(column) in self._ids:
                return {**row, column: self._ids[row[column]]}
            return row
        member = row[column]
        row = {**row, column: pseudonym}
        for embedded in EMBEDDED_IDS.get(table, ()):
            row[embedded] = row[embedded].replace(f'"{member}"', f'"{pseudonym}"')
        for derived in DERIVED_IDS.get(table, ()):
            row[derived] = self.id_for(row[derived])
        return row


def _existing_tables(ch: ClickHouse) -> set[str]:
    return {r["name"] for r in ch.query("SELECT name FROM system.tables WHERE database = currentDatabase()")}


def rekey_targets(ch: ClickHouse, renamed: dict[str, str]) -> int:
    """Audit entries naming an id that has a stand-in now (an alert of an erased member whose audited read
    was stored before the alert's own rows were re-keyed: a rebuild reads the topics in any order)."""
    if "staff_access" not in _existing_tables(ch):
        return 0
    params = {"renamed_from": list(renamed), "renamed_to": list(renamed.values())}
    where = "has({renamed_from:Array(String)}, target)"
    found = ch.query(f"SELECT count() AS n FROM staff_access WHERE {where}", params)[0]["n"]
    if found:
        ch.command("INSERT INTO staff_access SELECT * REPLACE (transform(target, {renamed_from:Array(String)}, "
                   f"{{renamed_to:Array(String)}}, target) AS target) FROM (SELECT * FROM staff_access WHERE {where})",
                   params)
        ch.command(f"ALTER TABLE staff_access DELETE WHERE {where} SETTINGS mutations_sync = 2", params)
    return found


def rekey_member(ch: ClickHouse, member_id: str, pseudonym: str, id_for: Callable[[str], str] | None = None) -> int:
    """Move every row of `member_id` to `pseudonym` in every table, ids derived from the member id to
    `id_for`'s random stand-ins (audit entries naming them included); the number of rows moved.
    Idempotent: a second run finds no row of the member."""
    id_for = id_for or Pseudonyms().id_for
    tables = _existing_tables(ch)
    params = {"member": member_id, "pseudonym": pseudonym, "quoted": f'"{member_id}"',
              "quoted_pseudonym": f'"{pseudonym}"'}
    views = [v for v in VIEWS_ON_EVENTS if v in tables]
    moved = 0
    # old → new for every derived id of the member; the audit trail's `target` may name one of them.
    renamed: dict[str, str] = {member_id: pseudonym}
    for view in views:
        ch.command(f"DETACH TABLE {view}")
    try:
        for table, column in ID_COLUMNS.items():
            if table not in tables:
                continue
            where = f"{column} = {{member:String}}"
            if table == "staff_access":
                where = f"has({{renamed_from:Array(String)}}, {column})"
            params |= {"renamed_from": list(renamed), "renamed_to": list(renamed.values())}
            found = ch.query(f"SELECT count() AS n FROM {table} WHERE {where}", params)[0]["n"]
            if not found:
                continue
            if table == "staff_access":
                replaced = [f"transform({column}, {{renamed_from:Array(String)}}, {{renamed_to:Array(String)}}, "
                            f"{column}) AS {column}"]
            else:
                replaced = [f"{{pseudonym:String}} AS {column}"]
            replaced += [f"replaceAll({c}, {{quoted:String}}, {{quoted_pseudonym:String}}) AS {c}"
                         for c in EMBEDDED_IDS.get(table, ())]
            for derived in DERIVED_IDS.get(table, ()):
                olds = [r["v"] for r in ch.query(f"SELECT DISTINCT {derived} AS v FROM {table} WHERE {where}", params)]
                mapping = {old: id_for(old) for old in olds}
                renamed |= mapping
                params |= {f"{derived}_from": list(mapping), f"{derived}_to": list(mapping.values())}
                replaced.append(f"transform({derived}, {{{derived}_from:Array(String)}}, "
                                f"{{{derived}_to:Array(String)}}, {derived}) AS {derived}")
            # The subquery filters by the ORIGINAL column: in ClickHouse a select alias shadows the column
            # of the same name in WHERE, so `... REPLACE (p AS member_id) ... WHERE member_id = m` is empty.
            ch.command(f"INSERT INTO {table} SELECT * REPLACE ({', '.join(replaced)}) "
                       f"FROM (SELECT * FROM {table} WHERE {where})", params)
            ch.command(f"ALTER TABLE {table} DELETE WHERE {where} SETTINGS mutations_sync = 2", params)
            moved += found
    finally:
        for view in views:
            ch.command(f"ATTACH TABLE {view}")
    return moved
