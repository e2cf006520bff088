"""Cost of the cohort overview (`GET /v1/cohorts/overview`, docs/clinical.md).

`python -m bench.cohort_overview [cohorts] [members]` starts its own broker, drives `cohorts` generated
cohorts (`members` members, 15 weeks each, as the acceptance cohort) through the ingest API into the
metrics service (chDB in a temporary directory), then times, as an admin who sees every cohort:

* the whole list computed (the answer cache emptied first, as after every sink write);
* the whole list from the answer cache (data unchanged);
* one cohort's row computed.

Prints the medians and p95s; the figures belong in bench/results.md ("Measured outside make bench").
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
import uuid

from rich.console import Console

from services.common.auth import mint_token
from services.common.broker import start_broker
from services.common.kafka import ensure_topics
from services.metrics.tests.conftest import ingest_client, metrics_client, send_cohort, wait_until_sunk
from testsupport.cohort import generate

SECRET = "bench-secret-0123456789abcdef0123456789"
os.environ.setdefault("AUTH_DEV", "1")  # HS256 bench tokens (a development option, docs/security.md)
os.environ.setdefault("CLOCK_MODE", "simulated")  # the generated cohorts move the clock
console = Console()


def _timed(call, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        out.append(1000 * (time.perf_counter() - start))
    return out


def _summary(ms: list[float]) -> str:
    ordered = sorted(ms)
    return f"median {statistics.median(ordered):.0f} ms · p95 {ordered[int(0.95 * (len(ordered) - 1))]:.0f} ms"


def main() -> None:
    cohorts = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    members = int(sys.argv[2]) if len(sys.argv) > 2 else 54
    process, bootstrap = start_broker()
    ensure_topics(bootstrap)
    admin = mint_token(SECRET, "ops", "admin")
    try:
        with tempfile.TemporaryDirectory() as tmp, ingest_client(bootstrap, SECRET) as ingest, \
                metrics_client(bootstrap, SECRET, f"{tmp}/chdb", run_stream=False) as metrics:
            started = time.perf_counter()
            generated = []
            for i in range(cohorts):
                prefix = f"b{uuid.uuid4().hex[:6]}"
                g = generate(seed=100 + i, members=members, weeks=15, cohort=f"bench-{i:03d}", prefix=prefix)
                send_cohort(ingest, admin, g)
                generated.append((g, prefix))
            ch = metrics.app.state.ch
            for g, prefix in generated:
                wait_until_sunk(ch, g, prefix, timeout_s=600)
            events = sum(g.unique_events for g, _ in generated)
            console.print(f"{cohorts} cohorts × {members} members, {events:,} events loaded in "
                          f"{time.perf_counter() - started:.0f} s")
            headers = {"Authorization": f"Bearer {admin}"}
            answers = metrics.app.state.answers

            def whole_list_computed():
                answers._entries.clear()
                response = metrics.get("/v1/cohorts/overview?limit=200", headers=headers)
                assert response.status_code == 200 and len(response.json()) == cohorts, response.text

            def whole_list_cached():
                assert metrics.get("/v1/cohorts/overview?limit=200", headers=headers).status_code == 200

            def one_row_computed():
                answers._entries.clear()
                assert metrics.get("/v1/cohorts/bench-000/overview", headers=headers).status_code == 200

            computed = _timed(whole_list_computed, 5)
            cached = _timed(whole_list_cached, 20)
            one = _timed(one_row_computed, 10)
            console.print(f"overview of {cohorts} cohorts, computed: {_summary(computed)} "
                          f"({statistics.median(computed) / cohorts:.0f} ms per cohort)")
            console.print(f"overview of {cohorts} cohorts, answer cache: {_summary(cached)}")
            console.print(f"one cohort's row, computed: {_summary(one)}")
    finally:
        process.terminate()
        process.wait(10)


if __name__ == "__main__":
    main()
