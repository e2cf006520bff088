"""Acceptance, second cohort (issue 13): a generated cohort that CHANGES while it runs — zone changes,
re-enrolments, two settings changes with effective dates (a holiday, a make-up working Saturday),
withdrawals dated in the future, conflicting event ids, duplicates, late uploads, DST ends — goes
through the real ingest API and broker into the metrics service (`python -m services.metrics`, chDB).
Every number of /weekly and /daily (both denominators), /members and /daytypes (every stage, both
denominators) must equal `loadtests.recount`, an independent count from the raw requests; then the
service is SIGKILLed, the rest of the cohort arrives while it is down, and after a restart every
number equals the count again. docs/metrics.md, "Acceptance"."""

from __future__ import annotations

import signal
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from loadtests.changes import changes_cohort
from loadtests.recount import QUERIES, differences, recount
from services.common.broker import free_port

from .conftest import ingest_client, unique_prefix
from .test_kill import _start


def _send(ingest, admin: dict, steps) -> None:
    for method, path, body, params in steps:
        response = ingest.request(method, path, json=body, params=params, headers=admin)
        assert response.status_code == 202, (method, path, response.text[:500])


def _answers(url: str, headers: dict) -> dict:
    out = {}
    for query in QUERIES:
        try:
            response = httpx.get(f"{url}/{query}", headers=headers, timeout=30)
            out[query] = response.json() if response.status_code == 200 else None
        except httpx.HTTPError:
            out[query] = None
    return out


def _until_equal(url: str, headers: dict, truth: dict, timeout_s: float = 120) -> None:
    """Poll (with a deadline) until the service has caught up and equals the count; else show the diff."""
    deadline = time.monotonic() + timeout_s
    while diffs := differences(truth, _answers(url, headers)):
        if time.monotonic() > deadline:
            raise AssertionError(f"{len(diffs)} differences from the independent count:\n" + "\n".join(diffs[:60]))
        time.sleep(0.5)


def test_a_changing_cohort_equals_the_independent_count_also_after_a_sigkill(own_broker, jwt_secret, mint,
                                                                              admin_token, tmp_path):
    _, bootstrap = own_broker
    prefix = unique_prefix()
    g = changes_cohort(cohort=f"chg-{prefix}", prefix=prefix)
    admin = {"Authorization": f"Bearer {admin_token}"}
    nurse = {"Authorization": f"Bearer {mint('nurse-1', 'nurse', (g.cohort,))}"}
    port, chdb_dir = free_port(), tmp_path / "chdb"
    url = f"http://127.0.0.1:{port}/v1/cohorts/{g.cohort}"
    first, rest = g.steps[:g.split], g.steps[g.split:]
    with open(tmp_path / "metrics.log", "ab") as log, ingest_client(bootstrap, jwt_secret) as ingest, \
            ThreadPoolExecutor(1) as pool:
        starting = pool.submit(_start, bootstrap, jwt_secret, chdb_dir, port, log)  # starts while we send
        process = None
        try:
            _send(ingest, admin, first)
            process = starting.result()
            midway = recount(first)
            assert any(r["partial"] for r in midway["weekly?denominator=followup"])  # a cohort under way
            _until_equal(url, nurse, midway)

            process.send_signal(signal.SIGKILL)
            assert process.wait(10) == -signal.SIGKILL
            _send(ingest, admin, rest)  # the rest arrives while the worker is down
            process = _start(bootstrap, jwt_secret, chdb_dir, port, log)
            _until_equal(url, nurse, recount(g.steps))
        finally:
            process = process or starting.result()
            process.kill()
            process.wait(10)
