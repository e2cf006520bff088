"""One small ClickHouse interface, two backends chosen by URL.

* `chdb:///abs/path` or `chdb://./rel/path` — chDB, the ClickHouse engine in-process (embedded default).
  chDB locks its directory to one process and a session runs one query at a time, so every call is
  serialised by a lock; callers on the event loop go through `asyncio.to_thread`.
* `clickhouse://host:9000/db` — a ClickHouse server over the native protocol (clickhouse-driver).
  Rows are passed as parameters (`INSERT … VALUES` + columnar data), never inlined into SQL.
  On a replicated server cluster (`replicated=True`, setting CLICKHOUSE_REPLICATED) the database is
  created with the `Replicated` engine, so DDL reaches every replica; `schema.migrate` then creates
  Replicated*MergeTree tables.

SQL uses ClickHouse's server-side parameter syntax `{name:Type}` for both backends (translated to
clickhouse-driver's `%(name)s` for the server backend), and the table names are unqualified: each
backend selects its database.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping, Sequence
from typing import Any, Protocol
from urllib.parse import urlparse

import pyarrow as pa


class ClickHouseError(RuntimeError):
    """A query or write failed (the caller decides whether to retry)."""


class ClickHouse(Protocol):
    database: str

    def command(self, sql: str, params: Mapping[str, Any] | None = None) -> None: ...
    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]: ...
    def query_arrow(self, sql: str, params: Mapping[str, Any] | None = None) -> pa.Table: ...
    def insert(self, table: str, columns: Mapping[str, Sequence[Any]], schema: pa.Schema) -> None: ...
    def close(self) -> None: ...


_DB_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


def _literal(value: Any) -> str:
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    if hasattr(value, "isoformat"):
        return _literal(value.isoformat())
    return str(value)


_ESCAPED = str.maketrans({"\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r", "\0": "\\0"})


def _chdb_params(params: Mapping[str, Any]) -> dict[str, str]:
    """chDB takes query parameters as text in ClickHouse's Escaped format (backslash sequences);
    arrays in ClickHouse literal form."""
    return {k: _literal(v) if isinstance(v, (list, tuple)) else
            v.translate(_ESCAPED) if isinstance(v, str) else
            (v.isoformat() if hasattr(v, "isoformat") else str(v))
            for k, v in params.items()}


class ChdbClickHouse:
    def __init__(self, path: str, database: str = "carecircle") -> None:
        from chdb import session

        self.path, self.database = path, database
        self._lock = threading.Lock()
        self._session = session.Session(path)
        self._session.query(f"CREATE DATABASE IF NOT EXISTS {database}")
        self._session.query(f"USE {database}")

    def _run(self, sql: str, fmt: str, params: Mapping[str, Any] | None = None):
        try:
            with self._lock:
                if params:
                    return self._session.query(sql, fmt, params=_chdb_params(params))
                return self._session.query(sql, fmt)
        except Exception as exc:  # chdb raises its own error types
            raise ClickHouseError(str(exc)) from exc

    def command(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        self._run(sql, "CSV", params)

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        result = self._run(sql, "ArrowTable", params)
        return result.to_pylist() if result is not None else []

    def query_arrow(self, sql: str, params: Mapping[str, Any] | None = None) -> pa.Table:
        """The result as columns (no Python object per row: what numpy folds read)."""
        return self._run(sql, "ArrowTable", params)

    def insert(self, table: str, columns: Mapping[str, Sequence[Any]], schema: pa.Schema) -> None:
        batch = pa.table({name: pa.array(columns[name], type=schema.field(name).type) for name in schema.names})
        names = ", ".join(schema.names)
        if batch.num_rows:
            # chDB resolves Python(batch) from this frame's locals.
            self._run(f"INSERT INTO {table} ({names}) SELECT {names} FROM Python(batch)", "CSV")

    def close(self) -> None:
        with self._lock:
            self._session.close()


_PARAM = re.compile(r"\{(\w+):[^}]+\}")


def create_database_sql(database: str, replicated: bool = False) -> str:
    """The database's DDL; `Replicated`: one Keeper path per database, the server's {shard}/{replica} macros."""
    engine = (
        f" ENGINE = Replicated('/clickhouse/databases/{database}', '{{shard}}', '{{replica}}')" if replicated else ""
    )
    return f"CREATE DATABASE IF NOT EXISTS {database}{engine}"


class DriverClickHouse:
    def __init__(self, host: str, port: int, database: str, user: str = "default", password: str = "",
                 replicated: bool = False) -> None:
        from clickhouse_driver import Client

        self.database = database
        self._lock = threading.Lock()
        admin = Client(host=host, port=port, user=user, password=password)
        try:
            # Only a missing database is created: the metrics API connects with a read-only account
            # (SELECT on the database, docs/deploy.md "ClickHouse accounts"), which may not run CREATE at all.
            exists = "SELECT count() FROM system.databases WHERE name = %(name)s"
            if not admin.execute(exists, {"name": database})[0][0]:
                admin.execute(create_database_sql(database, replicated))
        finally:
            admin.disconnect()
        self._client = Client(host=host, port=port, database=database, user=user, password=password,
                              settings={"use_numpy": False})

    def _execute(self, sql: str, *args, **kwargs):
        try:
            with self._lock:
                return self._client.execute(sql, *args, **kwargs)
        except Exception as exc:
            raise ClickHouseError(str(exc)) from exc

    def command(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        self._execute(_PARAM.sub(r"%(\1)s", sql), dict(params or {}))

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        rows, types = self._execute(_PARAM.sub(r"%(\1)s", sql), dict(params or {}), with_column_types=True)
        names = [name for name, _ in types]
        return [dict(zip(names, row)) for row in rows]

    def query_arrow(self, sql: str, params: Mapping[str, Any] | None = None) -> pa.Table:
        """The result as columns (numbers and strings: what the numpy folds read)."""
        columns, types = self._execute(_PARAM.sub(r"%(\1)s", sql), dict(params or {}), with_column_types=True,
                                       columnar=True)
        columns = columns or [[] for _ in types]  # no rows: no columns either
        return pa.table({name: pa.array(list(column)) for (name, _), column in zip(types, columns)})

    def insert(self, table: str, columns: Mapping[str, Sequence[Any]], schema: pa.Schema) -> None:
        data = [list(columns[name]) for name in schema.names]
        if data and data[0]:
            self._execute(f"INSERT INTO {table} ({', '.join(schema.names)}) VALUES", data, columnar=True)

    def close(self) -> None:
        self._client.disconnect()


def connect(url: str, replicated: bool = False) -> ClickHouse:
    """A client for `CLICKHOUSE_URL`; 'chdb://' paths are created when missing."""
    parsed = urlparse(url)
    if parsed.scheme == "chdb":
        path = (parsed.netloc + parsed.path) if parsed.netloc else parsed.path
        if not path:
            raise ValueError("chdb URL needs a path: chdb:///abs/path or chdb://./rel/path")
        if replicated:
            raise ValueError("CLICKHOUSE_REPLICATED needs a ClickHouse server cluster (clickhouse://), not chDB")
        return ChdbClickHouse(path)
    if parsed.scheme == "clickhouse":
        database = parsed.path.lstrip("/") or "carecircle"
        if not _DB_NAME.match(database):
            raise ValueError(f"invalid database name {database!r}")
        return DriverClickHouse(parsed.hostname or "127.0.0.1", parsed.port or 9000, database,
                                parsed.username or "default", parsed.password or "", replicated)
    raise ValueError(f"CLICKHOUSE_URL must start with chdb:// or clickhouse://, not {url!r}")
