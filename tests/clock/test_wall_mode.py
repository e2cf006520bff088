"""A stack in wall mode, as `DEMO=0 make run` starts it (docs/clock.md), with TWO clock processes
ticking every second (a rolling update, a mistaken second replica):

* within 2 minutes every partition of `clock.ticks` holds a tick within 2 minutes of the wall clock,
  and every service's latest-applied-tick gauge is within 2 minutes of the wall clock;
* `POST /v1/admin/clock` answers 409 and writes nothing; an event 11 minutes ahead of the wall clock
  is refused (422 naming occurred_at);
* over 5+ periods every consumer (metrics sink and state, notifier, survey) applies each period once:
  the second copy of each tick is counted as a duplicate, nothing is applied twice;
* the notifier sends a due reminder once, although every tick arrives twice and many ticks follow.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from datetime import datetime, timedelta, timezone

import httpx

from loadtests.stack import running
from services.common.auth import mint_token
from services.common.broker import free_port
from testsupport.broker import ServiceProcess, read_topic

from .helpers import sample, ticks_on_log, wait_for

CONSUMERS = {"metrics": ("metrics_sink", "metrics_state"), "notifier": ("notifier",), "survey": ("survey",)}
IGNORED = ("duplicate_or_stale", "future", "skipped_to_newest")


def _counts(url: str, consumer: str) -> dict[str, float]:
    out = {"apply": sample(url, "clock_ticks_applied_total", consumer=consumer)}
    for reason in IGNORED:
        out[reason] = sample(url, "clock_ticks_ignored_total", consumer=consumer, reason=reason)
    return out


def test_two_wall_clocks_one_logical_tick_per_period(jwt_secret, tmp_path):
    fast = {"CLOCK_TICK_SECONDS": "1"}
    services = {"ingest": {}, "metrics": {"CLICKHOUSE_URL": f"chdb://{tmp_path / 'chdb'}", "METRICS_SINK_POLL_MS": "50"},
                "notifier": {"NOTIFIER_REBUILD_IDLE_S": "0.3"}, "survey": {}, "clock": fast}
    with running(jwt_secret, tmp_path, services, clock_mode="wall") as stack:
        port = free_port()
        second = ServiceProcess("clock", dict(os.environ, KAFKA_BOOTSTRAP=stack.bootstrap, JWT_SECRET=jwt_secret,
                                              CLOCK_MODE="wall", CLOCK_PORT=str(port), LOG_LEVEL="WARNING", **fast),
                                port, str(tmp_path / "clock-2.log"))
        second.start()
        try:
            admin = {"Authorization": f"Bearer {mint_token(jwt_secret, 'ops', 'admin', ())}"}
            ingest = stack.urls["ingest"]
            # the admin clock cannot move wall time
            refused = httpx.post(ingest + "/v1/admin/clock", headers=admin, json={"now": "2030-01-01T00:00:00Z"})
            assert refused.status_code == 409 and "CLOCK_MODE=wall" in refused.json()["detail"]

            # a member whose reminder slot passed two minutes ago: due at every tick of the next 2 hours
            wall = datetime.now(timezone.utc)
            slot = (wall - timedelta(minutes=2)).strftime("%H:%M")
            cohort, member = "c-wall", "m-wall"
            assert httpx.put(f"{ingest}/v1/cohorts/{cohort}/settings", headers=admin,
                             json={"reminder_times": [slot]}).status_code == 202
            assert httpx.post(ingest + "/v1/enrollments", headers=admin, json={
                "member_id": member, "cohort": cohort, "timezone": "UTC",
                "enrolled_on": wall.date().isoformat()}).status_code == 202

            # an event more than 10 minutes ahead of ingest's wall clock is refused, naming occurred_at
            ahead = {"event_id": "00000000-0000-4000-8000-0000000000a1", "type": "login", "member_id": member,
                     "occurred_at": (wall + timedelta(minutes=11)).isoformat(), "payload": {}}
            refused = httpx.post(ingest + "/v1/events", headers=admin, json=[ahead])
            assert refused.status_code == 422 and refused.json()["detail"][0]["errors"][0]["loc"][-1] == "occurred_at"

            # ticks within 2 min of the wall clock on every partition, and every service's gauge
            def fresh_everywhere() -> bool:
                ticks = ticks_on_log(stack.bootstrap)
                now = datetime.now(timezone.utc)
                return len(ticks) == 6 and all(now - max(t) < timedelta(minutes=2) for t in ticks.values())
            wait_for(fresh_everywhere, 120, "a fresh tick on every partition")
            for service, consumers in CONSUMERS.items():
                for consumer in consumers:
                    wait_for(lambda: datetime.now(timezone.utc).timestamp() - sample(
                        stack.urls[service], "clock_tick_applied_timestamp_seconds", consumer=consumer) < 120,
                        120, f"{consumer}'s latest-tick gauge")
                assert sample(stack.urls[service], "clock_mode_info", mode="wall") == 1

            # five more periods with both clocks, then stop both
            first_seen = max(max(t) for t in ticks_on_log(stack.bootstrap).values())
            wait_for(lambda: max(max(t) for t in ticks_on_log(stack.bootstrap).values())
                     >= first_seen + timedelta(seconds=5), 60, "five more periods")
        finally:
            second.stop()
            stack.processes["clock"].terminate()
            stack.processes["clock"].wait(20)

        ticks = ticks_on_log(stack.bootstrap)
        records = sum(len(t) for t in ticks.values())
        distinct = sum(len(set(t)) for t in ticks.values())
        # per partition, the records later than every earlier one in log order: what a consumer can apply
        # (under load a slow clock's copy of a period may land after the other clock's next period)
        new = sum(sum(1 for i, now in enumerate(t) if all(now > earlier for earlier in t[:i])) for t in ticks.values())
        per_period = Counter(now for t in ticks.values() for now in t)
        assert max(per_period.values()) >= 12  # both processes wrote the same period to all 6 partitions
        assert records > distinct >= new >= 6 * 5

        for service, consumers in CONSUMERS.items():
            for consumer in consumers:
                wait_for(lambda: sum(_counts(stack.urls[service], consumer).values()) >= records, 60,
                         f"{consumer} to read every tick")
                got = _counts(stack.urls[service], consumer)
                # each new period applied once per partition (or skipped for a newer one while catching up)
                assert got["apply"] + got["skipped_to_newest"] == new, (consumer, got, new)
                assert got["duplicate_or_stale"] >= records - new and got["future"] == 0, (consumer, got)

        requested = [json.loads(r.value) for r in read_topic(stack.bootstrap, "notifications.outbound", expect_at_least=1)
                     if r.key == member.encode()]
        reminders = [r for r in requested if r["type"] == "notification.requested" and r["kind"] == "reminder"]
        assert len(reminders) == 1, reminders  # many ticks, each twice: one reminder
