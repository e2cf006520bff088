"""Restarts from snapshots give exactly the results of an uninterrupted run (docs/scale.md, "Snapshots
and restarts").

One seeded cohort is written twice, each time to a broker of its own, served by one notifier, one
survey and one metrics-stream worker:

* the reference run never stops and never uses snapshots (every start is the full replay);
* the other run writes snapshots often; after day KILL_DAY is decided and every worker has written a
  snapshot, all three are SIGKILLed (no clean stop, so no final snapshot: the newest one may be
  behind the log) and started again at once. They must restore their snapshots (no fallback) and
  resume the log after them; the rest of the cohort is written to the restarted workers. A day
  later a second metrics-stream worker joins the group, and a day after that it is SIGKILLed: the
  partitions each worker gains in those rebalances must come from their own snapshots (written by
  the other worker), not from offset 0.

Then every alert step, survey step and reminder request is the same set in both runs, each once, and
the metrics stream published the same member-days (`engagement.daily`, newest value per key)."""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from contracts.topics import ALERTS, CLOCK_TICKS, ENGAGEMENT_DAILY, ENGAGEMENT_EVENTS, MEMBERS
from services.common.broker import free_port, start_broker
from services.common.kafka import ensure_topics
from services.metrics.snapshot import scope
from services.notifier.tests.receivers import HttpReceiver
from testsupport.broker import ServiceProcess, read_topic
from testsupport.logs import logged_since
from testsupport.polling import wait_until

from .cohort import Driver, plan
from .test_scale_out import _collect, _wait_delivered
from .workers import applied_offsets, start_together, stream_settings, wait_applied, worker

SERVICES = ("notifier", "survey", "metrics")
KILL_DAY = 3
JOIN_DAY, LEAVE_DAY = KILL_DAY + 1, KILL_DAY + 2
MEMBERS_IN_CI = int(os.environ.get("SNAPSHOT_TEST_MEMBERS", "30"))
DAYS = 6


def _series(url: str, name: str) -> dict[tuple, float]:
    text = httpx.get(f"{url}/metrics", timeout=5).text
    return {tuple(sorted(s.labels.items())): s.value for f in text_string_to_metric_families(text)
            for s in f.samples if s.name == name}


def _wait_snapshot_written(workers: list[ServiceProcess], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not all(sum(_series(w.url, "carecircle_snapshots_written_total").values()) > 0 for w in workers):
        assert time.monotonic() < deadline, "a worker never wrote a snapshot"
        time.sleep(0.3)


def _logged_after(log_path: str, start: int) -> tuple[set[int], set[str]]:
    """After byte `start` of a metrics worker's JSON log: the partitions it gained, and the snapshot
    scopes it restored."""
    entries = logged_since(log_path, start)
    gained = {p for e in entries if e.get("event") == "stream_partitions_assigned" for p in e["gained"]}
    return gained, {e["scope"] for e in entries if e.get("event") == "snapshot_restored"}


def _run(tmp, jwt_secret: str, snapshots: bool, keep_running: list):
    process, bootstrap = start_broker()
    keep_running.append(process)
    ensure_topics(bootstrap)
    receiver = HttpReceiver(free_port())
    keep_running.append(receiver)
    run_dir = tmp / ("snapshots" if snapshots else "replay")
    run_dir.mkdir()
    common = {"SNAPSHOTS_ENABLED": "1" if snapshots else "0", "SNAPSHOT_EVERY_RECORDS": "100", "SNAPSHOT_EVERY_S": "1"}
    extra = stream_settings(receiver.url)
    joiner = worker("metrics", bootstrap, jwt_secret, run_dir, 1, common | extra["metrics"])  # the stream role
    # the first metrics worker runs the sink too; restores are logged
    extra["metrics"] = {"CLICKHOUSE_URL": f"chdb://{run_dir / 'chdb'}", "LOG_LEVEL": "INFO"}
    workers = {s: worker(s, bootstrap, jwt_secret, run_dir, 0, common | extra[s]) for s in SERVICES}
    keep_running.extend(workers.values())
    start_together(list(workers.values()))
    pool = list(workers.values())
    metrics_stream = [workers["metrics"]]

    def settle(topics) -> None:
        """Until each service's own stream applied `topics` (one wait per service: all three publish a
        `stream` applied offset, and one service done is not another done; the metrics stream's
        partitions by whichever worker owns each)."""
        for service, w in workers.items():
            mine = set(topics) - ({ENGAGEMENT_EVENTS.name} if service == "survey" else set())
            if service == "metrics":
                wait_applied(metrics_stream, driver.written, "stream", mine, every_worker=False)
            else:
                wait_applied([w], driver.written, "stream", mine, every_worker=True)

    cohort = plan(members=MEMBERS_IN_CI, days=DAYS)
    driver = Driver(bootstrap)
    restored = {}
    try:
        driver.setup(cohort)
        wait_applied([workers["notifier"]], driver.written, "log-tail", [MEMBERS.name], every_worker=True)
        settle([MEMBERS.name])
        for day in range(cohort.days):
            driver.events(cohort, day)
            wait_applied([workers["notifier"]], driver.written, "log-tail", [ENGAGEMENT_EVENTS.name],
                         every_worker=True)
            driver.ticks(day)
            settle([CLOCK_TICKS.name, MEMBERS.name, ENGAGEMENT_EVENTS.name])
            if snapshots and day == KILL_DAY:  # the day is decided; the next one is not written yet
                _wait_snapshot_written(pool)
                for w in pool:
                    w.kill()
                start_together(pool)
                restored = {w.name: (_series(w.url, "carecircle_snapshot_restored_offsets_total"),
                                     _series(w.url, "carecircle_snapshot_fallbacks_total")) for w in pool}
            if snapshots and day == JOIN_DAY:  # the next rebalance hands partitions to a new worker
                keep_running.append(joiner)
                joiner.start(ready_timeout_s=240)
                metrics_stream.append(joiner)
                wait_until(lambda: any(consumer == "stream" for consumer, _, _ in applied_offsets(joiner.url)),
                           what="the joining worker to be assigned partitions")
                settle([CLOCK_TICKS.name, MEMBERS.name, ENGAGEMENT_EVENTS.name])
                restored["metrics-joiner"] = (_series(joiner.url, "carecircle_snapshot_restored_offsets_total"),
                                              _series(joiner.url, "carecircle_snapshot_fallbacks_total"))
            if snapshots and day == LEAVE_DAY:  # the joiner dies: the first worker takes its partitions back
                log_from = os.path.getsize(workers["metrics"].log_path)
                joiner.kill()
                metrics_stream.remove(joiner)
                settle([CLOCK_TICKS.name, MEMBERS.name, ENGAGEMENT_EVENTS.name])
                restored["handed back"] = _logged_after(workers["metrics"].log_path, log_from)
    finally:
        driver.close()
    _wait_delivered(bootstrap)
    daily = {r.key: r.value for r in read_topic(bootstrap, ENGAGEMENT_DAILY.name, idle_s=1.0)}
    alerts = [json.loads(r.value) for r in read_topic(bootstrap, ALERTS.name)]
    return _collect(bootstrap, receiver), daily, restored, alerts


def _story(alerts: list[dict], alert_ids: set[str]) -> list[tuple]:
    """The steps of some alerts, for a failure message."""
    return sorted((a["alert_id"], a["occurred_at"], a["type"]) for a in alerts if a["alert_id"] in alert_ids)


@pytest.fixture
def processes():
    """What a run started (brokers, receivers, workers): stopped at the end, newest first."""
    things: list = []
    yield things
    for thing in reversed(things):
        if isinstance(thing, ServiceProcess | HttpReceiver):
            thing.stop()
        else:
            thing.terminate()
            thing.wait(10)


@pytest.mark.timeout(900)  # a cap for a machine shared with other suites, not a target
def test_workers_killed_and_restarted_from_snapshots_equal_an_uninterrupted_run(tmp_path, jwt_secret, processes):
    with ThreadPoolExecutor(2) as pool:
        reference_run = pool.submit(_run, tmp_path, jwt_secret, False, processes)
        snapshot_run = pool.submit(_run, tmp_path, jwt_secret, True, processes)
        reference, reference_daily, _, reference_alerts = reference_run.result()
        restarted, restarted_daily, restored, restarted_alerts = snapshot_run.result()

    for service in (*SERVICES, "metrics-joiner"):  # every worker restored snapshots: no full replay
        offsets, fallbacks = restored[service]
        assert sum(offsets.values()) > 0, service
        assert sum(fallbacks.values()) == 0, (service, fallbacks)
    handed_back, scopes = restored["handed back"]  # a partition gained in a later rebalance: its snapshot
    assert handed_back and {scope(p) for p in handed_back} <= scopes, (handed_back, scopes)
    assert reference.alert_steps.get("alert.raised") and reference.requested, "the cohort raises alerts, reminds"
    differing = {e for kind in reference.alert_steps.keys() | restarted.alert_steps.keys()
                 for e in reference.alert_steps.get(kind, set()) ^ restarted.alert_steps.get(kind, set())}
    alert_ids = {a["alert_id"] for a in reference_alerts + restarted_alerts if a["event_id"] in differing}
    if restarted.alert_steps != reference.alert_steps:
        print("reference:", _story(reference_alerts, alert_ids), "\nrestarted:", _story(restarted_alerts, alert_ids))
    assert restarted.alert_steps == reference.alert_steps
    assert restarted.survey_steps == reference.survey_steps
    assert restarted.requested == reference.requested
    assert all(len(ids) == 1 for ids in restarted.requested.values())
    assert restarted.outcomes == reference.outcomes
    assert set(restarted.gateway) == set(reference.gateway)
    assert reference_daily and {k: json.loads(v) for k, v in restarted_daily.items()} == \
        {k: json.loads(v) for k, v in reference_daily.items()}
