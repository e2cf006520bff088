"""The metrics API's read-only ClickHouse account works against a real server: connecting never tries to
create the database (a read-only user may not), reads are served, writes are refused. Debian's
clickhouse-server (18.16, .ci/run installs it) enforces `readonly` profiles; the cluster's account adds
SELECT-only grants on top (tests/deploy/test_deploy_clickhouse_access.py)."""

from __future__ import annotations

import re
import shutil

import pyarrow as pa
import pytest

from services.metrics.clickhouse import ClickHouseError, connect
from tests.faults.clickhouse_server import ClickHouseServer

SCHEMA = pa.schema([("cohort", pa.string()), ("rate", pa.float64())])
READER = """
        <carecircle_reader>
            <password>reader-password</password>
            <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
            <profile>reader</profile>
            <quota>default</quota>
        </carecircle_reader>
"""
PROFILE = "<reader><readonly>2</readonly></reader>"


@pytest.fixture
def server(tmp_path):
    if shutil.which("clickhouse-server") is None:
        pytest.fail("clickhouse-server is not installed (.ci/run installs Debian's package)")
    instance = ClickHouseServer(tmp_path)
    users = (tmp_path / "users.xml").read_text()
    users = re.sub(r"(<profiles>)", r"\1" + PROFILE, users, count=1)
    users = re.sub(r"(<users>)", r"\1" + READER, users, count=1)
    (tmp_path / "users.xml").write_text(users)
    instance.start()
    yield instance
    instance.kill()


def test_reader_connects_reads_and_cannot_write(server):
    writer = connect(f"clickhouse://default@127.0.0.1:{server.port}/carecircle")  # creates the database
    writer.command("CREATE TABLE rates (cohort String, rate Float64) ENGINE = MergeTree ORDER BY cohort")
    writer.insert("rates", {"cohort": ["study"], "rate": [0.5]}, SCHEMA)  # rows as parameters (inline data hangs 18.16)
    reader = connect(f"clickhouse://carecircle_reader:reader-password@127.0.0.1:{server.port}/carecircle")
    try:
        assert reader.query("SELECT cohort, rate FROM rates") == [{"cohort": "study", "rate": 0.5}]
        with pytest.raises(ClickHouseError, match="readonly"):
            reader.insert("rates", {"cohort": ["forged"], "rate": [1.0]}, SCHEMA)
        with pytest.raises(ClickHouseError, match="readonly"):
            reader.command("DROP TABLE rates")
    finally:
        reader.close()
        writer.close()


def test_reader_cannot_create_a_missing_database(server):
    with pytest.raises(Exception, match="readonly"):
        connect(f"clickhouse://carecircle_reader:reader-password@127.0.0.1:{server.port}/elsewhere")
