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

from typing import Any

from services.common.pseudonyms import new_pseudonym

from .clickhouse import ClickHouse

# table → the column holding a member id (the audit trail names the member read in `target`).
ID_COLUMNS: dict[str, str] = {
    "events": "member_id", "enrolments": "member_id", "withdrawals": "member_id", "member_records": "member_id",
    "member_days": "member_id", "survey_scores": "member_id", "member_day_events": "member_id",
    "aggregated_events": "member_id", "alert_events": "member_id", "staff_access": "target",
}
# String columns that embed the id in a serialized record (rewritten with it).
EMBEDDED_IDS: dict[str, tuple[str, ...]] = {"member_records": ("record",), "events": ("payload",)}
VIEWS_ON_EVENTS = ("member_day_events_mv", "aggregated_events_mv")
ERASURE_TABLE = "__member_erased__"  # the converter's marker row: an action for the sink, not a table


class Pseudonyms:
    """member id → pseudonym, for this process only (never written anywhere)."""

    def __init__(self) -> None:
        self._by_member: dict[str, str] = {}

    def assign(self, member_id: str) -> str:
        return self._by_member.setdefault(member_id, new_pseudonym())

    def get(self, member_id: str) -> str | None:
        return self._by_member.get(member_id)

    def __bool__(self) -> bool:
        return bool(self._by_member)

    def rewrite(self, table: str, row: dict[str, Any]) -> dict[str, Any]:
        """The row as it must be stored: an erased member's id replaced by the pseudonym."""
        column = ID_COLUMNS.get(table)
        pseudonym = self._by_member.get(row.get(column, "")) if column else None
        if pseudonym is None:
            return row
        member = row[column]
        row = {**row, column: pseudonym}
        for embedded in EMBEDDED_IDS.get(table, ()):
            row[embedded] = row[embedded].replace(f'"{member}"', f'"{pseudonym}"')
        return row


def _existing_tables(ch: ClickHouse) -> set[str]:
    return {r["name"] for r in ch.query("SELECT name FROM system.tables WHERE database = currentDatabase()")}


def rekey_member(ch: ClickHouse, member_id: str, pseudonym: str) -> int:
    """Move every row of `member_id` to `pseudonym` in every table; the number of rows moved.
    Idempotent: a second run finds no row of the member."""
    tables = _existing_tables(ch)
    params = {"member": member_id, "pseudonym": pseudonym, "quoted": f'"{member_id}"',
              "quoted_pseudonym": f'"{pseudonym}"'}
    views = [v for v in VIEWS_ON_EVENTS if v in tables]
    moved = 0
    for view in views:
        ch.command(f"DETACH TABLE {view}")
    try:
        for table, column in ID_COLUMNS.items():
            if table not in tables:
                continue
            found = ch.query(f"SELECT count() AS n FROM {table} WHERE {column} = {{member:String}}", params)[0]["n"]
            if not found:
                continue
            replaced = [f"{{pseudonym:String}} AS {column}"] + [
                f"replaceAll({c}, {{quoted:String}}, {{quoted_pseudonym:String}}) AS {c}"
                for c in EMBEDDED_IDS.get(table, ())]
            # The subquery filters by the ORIGINAL column: in ClickHouse a select alias shadows the column
            # of the same name in WHERE, so `... REPLACE (p AS member_id) ... WHERE member_id = m` is empty.
            ch.command(f"INSERT INTO {table} SELECT * REPLACE ({', '.join(replaced)}) "
                       f"FROM (SELECT * FROM {table} WHERE {column} = {{member:String}})", params)
            ch.command(f"ALTER TABLE {table} DELETE WHERE {column} = {{member:String}} "
                       "SETTINGS mutations_sync = 2", params)
            moved += found
    finally:
        for view in views:
            ch.command(f"ATTACH TABLE {view}")
    return moved
