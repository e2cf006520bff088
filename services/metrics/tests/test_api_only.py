"""The API-only process (`METRICS_RUN_SINK=false`, `METRICS_RUN_STREAM=false`: the scaled `metrics`
Deployment; the sink and the faust agents run once, in `metrics-worker`): it starts and answers without
Kafka, never writes to ClickHouse, and is ready exactly when ClickHouse holds the writer's schema
(real chDB; the broker is only used to fill ClickHouse through the real sink first, then stopped)."""

from __future__ import annotations

import asyncio
import time

from services.metrics.app import schema_current
from services.metrics.clickhouse import ClickHouseError
from services.metrics.schema import migrate
from testsupport.cohort import generate, truth_weekly

from .conftest import ingest_client, metrics_client, send_cohort, unique_prefix, wait_until_sunk


def test_api_only_serves_the_store_without_kafka(own_broker, jwt_secret, mint, admin_token, tmp_path):
    holder, bootstrap = own_broker
    prefix = unique_prefix()
    g = generate(seed=11, members=6, weeks=2, cohort=f"ro-{prefix}", prefix=prefix)
    weekly = f"/v1/cohorts/{g.cohort}/weekly"
    nurse = {"Authorization": f"Bearer {mint('n1', 'nurse', (g.cohort,))}"}
    chdb = tmp_path / "chdb"

    # the worker (sink on) fills ClickHouse from the log, then stops: chDB is one process at a time
    with ingest_client(bootstrap, jwt_secret) as ingest:
        send_cohort(ingest, admin_token, g)
    with metrics_client(bootstrap, jwt_secret, chdb, run_stream=False, rollup_interval_s=0) as worker:
        wait_until_sunk(worker.app.state.ch, g, prefix)
        assert worker.get(weekly, headers=nurse).json() == truth_weekly(g)
        assert "metrics_sink_running 1.0" in worker.get("/metrics").text  # what the missing/duplicate-sink alerts read
    holder["process"].terminate()  # no Kafka from here on
    holder["process"].wait(10)

    # ENSURE_TOPICS stays at its default (true): an API-only process must not try it either
    with metrics_client(bootstrap, jwt_secret, chdb, run_sink=False, run_stream=False) as api:
        started = time.monotonic()
        assert api.get("/healthz").status_code == 200
        ready = api.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert time.monotonic() - started < 5  # no broker probe waiting on its timeout
        assert api.get(weekly, headers=nurse).json() == truth_weekly(g)
        assert api.get(weekly).status_code == 401
        assert not hasattr(api.app.state, "faust") and api.app.state.sink._task is None
        assert "metrics_sink_running 0.0" in api.get("/metrics").text


def test_api_only_is_not_ready_until_the_writer_migrated_and_writes_nothing(jwt_secret, tmp_path):
    with metrics_client("127.0.0.1:1", jwt_secret, tmp_path / "chdb", run_sink=False, run_stream=False) as api:
        ch = api.app.state.ch
        assert api.get("/healthz").status_code == 200
        assert api.get("/readyz").status_code == 503  # an empty store: the worker has not migrated yet
        assert ch.query("SELECT name FROM system.tables WHERE database = currentDatabase()") == []
        migrate(ch)  # what the worker does at its start
        assert api.get("/readyz").status_code == 200


class _Failing:
    def query(self, sql, params=None):
        raise ClickHouseError("Connection refused")


class _Hanging:
    def query(self, sql, params=None):
        time.sleep(0.5)
        return []


def test_schema_check_is_false_when_clickhouse_fails_or_hangs():
    assert asyncio.run(schema_current(None)) is False
    assert asyncio.run(schema_current(_Failing())) is False
    assert asyncio.run(schema_current(_Hanging(), timeout_s=0.1)) is False
