"""Fixtures for the end-to-end simulator test: the running stack (`loadtests.stack`)."""

from __future__ import annotations

import pytest

from loadtests.stack import REPO, Stack, running  # noqa: F401 - re-exported for the tests


@pytest.fixture(scope="module")
def stack(jwt_secret, tmp_path_factory):
    """Ingest + metrics (chDB in a fresh directory) against a broker of this test module alone."""
    tmp = tmp_path_factory.mktemp("stack")
    with running(
        jwt_secret,
        tmp,
        {"ingest": {}, "metrics": {"CLICKHOUSE_URL": f"chdb://{tmp / 'chdb'}", "METRICS_SINK_POLL_MS": "50"}},
    ) as s:
        yield s
