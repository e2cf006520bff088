"""The ClickHouse client interface: URL parsing, parameter forms, and the chDB backend's round trip."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pyarrow as pa
import pytest

from services.metrics.clickhouse import _PARAM, ChdbClickHouse, ClickHouseError, _chdb_params, connect


def test_urls_are_checked():
    with pytest.raises(ValueError, match="chdb:// or clickhouse://"):
        connect("postgres://x/y")
    with pytest.raises(ValueError, match="needs a path"):
        connect("chdb://")
    with pytest.raises(ValueError, match="invalid database name"):
        connect("clickhouse://127.0.0.1:9/bad-name;drop")


def test_parameters_keep_their_form_for_both_backends():
    # clickhouse-driver substitutes %(name)s client-side with escaping
    assert _PARAM.sub(r"%(\1)s", "WHERE a = {a:String} AND has({t:Array(String)}, b)") == \
        "WHERE a = %(a)s AND has(%(t)s, b)"
    # chDB takes text: arrays as escaped ClickHouse literals
    assert _chdb_params({"t": ["a", "o'k"], "d": date(2026, 1, 2), "n": 3, "s": "a\\b\nc"}) == \
        {"t": "['a', 'o\\'k']", "d": "2026-01-02", "n": "3", "s": "a\\\\b\\nc"}


def test_chdb_round_trip_and_errors(tmp_path):
    ch = connect(f"chdb://{tmp_path / 'db'}")
    assert isinstance(ch, ChdbClickHouse)
    try:
        ch.command("CREATE TABLE t (id String, at DateTime64(3, 'UTC'), tags Array(String)) "
                   "ENGINE = ReplacingMergeTree ORDER BY id")
        schema = pa.schema([pa.field("id", pa.string()), pa.field("at", pa.timestamp("ms", tz="UTC")),
                            pa.field("tags", pa.list_(pa.string()))])
        at = datetime(2026, 1, 1, 12, tzinfo=timezone.utc)
        ch.insert("t", {"id": ["a", "b", "a"], "at": [at] * 3, "tags": [["x"], [], ["x"]]}, schema)
        rows = ch.query("SELECT id, at, tags FROM t FINAL WHERE has({ids:Array(String)}, id) ORDER BY id",
                        {"ids": ["a", "b'; DROP TABLE t; --"]})
        assert rows == [{"id": "a", "at": at, "tags": ["x"]}]
        awkward = "back\\slash, new\nline, tab\t, quote ' and \\n literally"
        assert ch.query("SELECT {s:String} AS s", {"s": awkward}) == [{"s": awkward}]  # text parameters escaped
        with pytest.raises(ClickHouseError):
            ch.query("SELECT * FROM missing_table")
    finally:
        ch.close()
