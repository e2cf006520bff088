"""SIGKILL the metrics worker (faust + sink) and the ingest service at random moments while a
simulated cohort (duplicates, late uploads, withdrawals, three zones) streams in; after restarts every
published number equals the ground truth: nothing lost, nothing counted twice."""

from __future__ import annotations

import random
import uuid

from loadtests.scenario import rates_cohort
from loadtests.simulate import Platform, replay, wait_for_platform
from loadtests.stack import running


def test_workers_killed_mid_stream_change_no_number(jwt_secret, tmp_path, fault_report):
    cohort = f"crash-{uuid.uuid4().hex[:6]}"
    sim = rates_cohort(members=16, weeks=4, seed=8, cohort=cohort, prefix=cohort, withdrawal_share=0.2)
    metrics_env = {"CLICKHOUSE_URL": f"chdb://{tmp_path / 'chdb'}", "METRICS_SINK_POLL_MS": "50"}
    rng = random.Random(7)
    kills: list[tuple[str, int]] = []
    with running(jwt_secret, tmp_path, {"ingest": {}, "metrics": metrics_env}) as stack:
        platform = Platform(stack.urls["ingest"], stack.urls["metrics"], stack.secret)
        ticks = 4 * 7 * 2  # tick_hours=12
        kill_at = {rng.randrange(5, ticks - 5): "metrics", rng.randrange(5, ticks - 5): "ingest",
                   rng.randrange(5, ticks - 5): "metrics"}
        count = {"ticks": 0}

        def on_tick(_now, sent: int) -> None:
            count["ticks"] += 1
            victim = kill_at.get(count["ticks"])
            if victim is None:
                return
            stack.processes[victim].kill()  # SIGKILL: no shutdown hooks, no final commit
            stack.processes[victim].wait(10)
            kills.append((victim, sent))
            stack.start(victim, **(metrics_env if victim == "metrics" else {}))
            stack.wait_ready()
            platform.ingest_url, platform.metrics_url = stack.urls["ingest"], stack.urls["metrics"]

        sent = replay(sim, platform, tick_hours=12, on_tick=on_tick)
        answer, diffs = wait_for_platform(sim, platform, timeout_s=120)
    assert len(kills) == len(kill_at)
    assert sent == len(sim.schedule)
    assert diffs == [], diffs[:5]
    duplicates = len(sim.schedule) - len({e["event_id"] for _, e in sim.schedule})
    # No difference from the ground truth: no event lost and no duplicate counted in any number.
    fault_report.add("platform SIGKILL (metrics, ingest)", faults_injected=len(kills), inputs_tried=sent,
                     events_lost=0, duplicates_counted=0)
    print(f"platform crash: kills {kills}; {sent} deliveries incl. {duplicates} duplicates; 0 differences")
