"""Fixtures shared by every test package: the real broker (tansu) and token minting."""

from __future__ import annotations

import os

import pytest

from services.common.auth import mint_token
from services.common.broker import start_broker
from services.common.kafka import ensure_topics

TEST_JWT_SECRET = "test-secret-0123456789abcdef0123456789"
# Tests mint HS256 tokens with the test secret, a development option the services accept only with
# AUTH_DEV=1 (docs/security.md); set before any settings object or service process is created.
os.environ.setdefault("AUTH_DEV", "1")
# The access-matrix tests send hundreds of refused tokens from one address on purpose; the 401-flood
# limit has its own test (tests/faults/test_hostile_clients.py) with the production default.
os.environ.setdefault("RATE_LIMIT_REFUSED_PER_ADDRESS", "100000/minute")

# Tests drive time with POST /v1/admin/clock, which only `simulated` mode accepts (docs/clock.md).
# Set before any settings object is built; subprocesses inherit it. Wall-mode tests set CLOCK_MODE=wall.
os.environ.setdefault("CLOCK_MODE", "simulated")

# A consumer group's join on tansu waits half the session timeout, and a SIGKILLed worker's partitions
# wait a whole one: 4 s instead of the production 10 s takes ~3 s off every stream start and ~6 s off
# every restart after a SIGKILL (docs/testing.md, "Time budget"). Heartbeats stay at 1 s.
os.environ.setdefault("KAFKA_SESSION_TIMEOUT_S", "4")


@pytest.fixture(scope="session")
def jwt_secret() -> str:
    os.environ.setdefault("JWT_SECRET", TEST_JWT_SECRET)
    return TEST_JWT_SECRET


@pytest.fixture(scope="session")
def broker():
    """A real tansu broker on a free port with the catalogue topics, shared by the session."""
    process, bootstrap = start_broker()
    ensure_topics(bootstrap)
    yield bootstrap
    process.terminate()
    process.wait(10)


@pytest.fixture
def own_broker():
    """A broker of this test alone, for tests that stop or restart it. Yields (process, bootstrap)."""
    process, bootstrap = start_broker()
    ensure_topics(bootstrap)
    holder = {"process": process}
    yield holder, bootstrap
    if holder["process"].poll() is None:
        holder["process"].terminate()
        holder["process"].wait(10)


@pytest.fixture
def mint(jwt_secret):
    def _mint(subject: str, role: str = "member", cohorts: tuple[str, ...] = (), **kwargs) -> str:
        return mint_token(jwt_secret, subject, role, cohorts, **kwargs)

    return _mint
