"""On a replicated ClickHouse cluster (CLICKHOUSE_REPLICATED) the database is created with the
`Replicated` engine and every migration creates Replicated*MergeTree tables. No Keeper runs here, so
the DDL is proven by ClickHouse's own parser (chDB's formatQuery) and by what `migrate` sends."""

from __future__ import annotations

import re

import pytest

from services.metrics.clickhouse import connect, create_database_sql
from services.metrics.schema import MIGRATIONS, MIGRATIONS_TABLE, migrate, replicated


def _statements() -> list[str]:
    """Every statement, with the DDL a migration step (a callable that looks before it acts) may send."""
    return [MIGRATIONS_TABLE] + [ddl for _, _, statements in MIGRATIONS for s in statements
                                 for ddl in (s.ddl if callable(s) else [s])]


def test_every_table_of_the_schema_becomes_replicated_and_nothing_else_changes():
    for statement in _statements():
        rewritten = replicated(statement)
        engines = re.findall(r"ENGINE\s*=\s*(\w+)", rewritten)
        assert all(engine.startswith("Replicated") and engine.endswith("MergeTree") for engine in engines), rewritten
        assert re.sub(r"Replicated(\w*MergeTree)", r"\1", rewritten) == statement
        assert replicated(rewritten) == rewritten  # idempotent
    tables = sum(bool(re.search(r"ENGINE\s*=", s)) for s in _statements())
    assert tables >= 9  # every CREATE TABLE of the schema was seen


def test_clickhouse_parses_the_replicated_ddl(tmp_path):
    ch = connect(f"chdb://{tmp_path / 'parse'}")
    try:
        ddl = [create_database_sql("carecircle", replicated=True)] + [replicated(s) for s in _statements()]
        for statement in ddl:
            formatted = ch.query("SELECT formatQuery({q:String}) AS q", {"q": statement})[0]["q"]
            assert formatted.startswith(("CREATE", "INSERT", "DROP")), formatted
        assert "ENGINE = Replicated('/clickhouse/databases/carecircle', '{shard}', '{replica}')" in \
            ch.query("SELECT formatQuery({q:String}) AS q", {"q": ddl[0]})[0]["q"]
    finally:
        ch.close()


class RecordingClickHouse:
    """Answers like a fresh server whose database has `engine`; records what migrate sends."""

    def __init__(self, engine: str) -> None:
        self.engine, self.commands = engine, []

    def query(self, sql, params=None):
        return [{"engine": self.engine}] if "system.databases" in sql else []

    def command(self, sql, params=None):
        self.commands.append(sql)


@pytest.mark.parametrize("engine, expect_replicated", [("Replicated", True), ("Atomic", False)])
def test_migrate_follows_the_database_engine(engine, expect_replicated):
    ch = RecordingClickHouse(engine)
    migrate(ch)
    created = [c for c in ch.commands if re.search(r"ENGINE\s*=", c)]
    assert len(created) == sum(bool(re.search(r"ENGINE\s*=", s)) for s in _statements())
    assert all(("ENGINE = Replicated" in c) == expect_replicated for c in created)


def test_chdb_refuses_a_replicated_database(tmp_path):
    with pytest.raises(ValueError, match="server cluster"):
        connect(f"chdb://{tmp_path / 'x'}", replicated=True)
