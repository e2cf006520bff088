"""A backwards tick (simulated mode; the admin API does not check order) changes no number, no alert,
no survey step and sends no reminder: every consumer ignores a tick that is not later than the latest
it applied on that partition, and counts it (clock_ticks_ignored_total{reason="duplicate_or_stale"}).

Without the gate the notifier would judge the members' "day 2 12:00" again and send that slot's
reminder three days late."""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import httpx

from loadtests.stack import running
from services.common.auth import mint_token
from testsupport.broker import read_topic

from .helpers import sample, wait_for

SH = "Asia/Shanghai"
ENROLLED = date(2026, 3, 2)
CONSUMERS = {"metrics": ("metrics_sink", "metrics_state"), "notifier": ("notifier",), "survey": ("survey",)}


def local(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(ENROLLED + timedelta(days=day - 1), time(hour, minute), tzinfo=ZoneInfo(SH))


def test_a_backwards_tick_changes_nothing(jwt_secret, tmp_path):
    services = {
        "ingest": {},
        "metrics": {"CLICKHOUSE_URL": f"chdb://{tmp_path / 'chdb'}", "METRICS_SINK_POLL_MS": "50"},
        "notifier": {"NOTIFIER_REBUILD_IDLE_S": "0.3"},
        "survey": {},
    }
    with running(jwt_secret, tmp_path, services) as stack:  # simulated mode
        admin = {"Authorization": f"Bearer {mint_token(jwt_secret, 'ops', 'admin', ())}"}
        ingest, metrics = stack.urls["ingest"], stack.urls["metrics"]
        cohort, away, here = "c-back", "m-away", "m-here"
        assert httpx.put(f"{ingest}/v1/cohorts/{cohort}/settings", headers=admin,
                         json={"nurses": ["n-a"], "lead_nurse": "n-a"}).status_code == 202
        for member in (away, here):
            assert httpx.post(ingest + "/v1/enrollments", headers=admin, json={
                "member_id": member, "cohort": cohort, "timezone": SH,
                "enrolled_on": ENROLLED.isoformat()}).status_code == 202
        events = [{"event_id": f"00000000-0000-4000-8000-00000000000{d}", "type": "login", "member_id": here,
                   "occurred_at": local(d, 9).isoformat(), "payload": {}} for d in (1, 2, 3)]
        events.append({"event_id": "00000000-0000-4000-8000-000000000009", "type": "login", "member_id": away,
                       "occurred_at": local(1, 9).isoformat(), "payload": {}})
        assert httpx.post(ingest + "/v1/events", headers=admin, json=events).status_code == 202

        def log_of(topic: str) -> list[dict]:
            return sorted((json.loads(r.value) for r in read_topic(stack.bootstrap, topic)
                           if r.key in (away.encode(), here.encode())), key=lambda v: v["event_id"])

        # Enrolments and ticks travel on different topics: a tick read before the enrolments would leave
        # the T0 invitations for the NEXT tick (a minute later in production, never in this test).
        wait_for(lambda: sum(s["type"] == "survey.scheduled" for s in log_of("surveys")) >= 2, 60,
                 "the survey read both enrolments")
        forward = local(4, 0, 30)  # `away` missed days 2 and 3: an alert; T0 invitations are out
        assert (
            httpx.post(ingest + "/v1/admin/clock", headers=admin, json={"now": forward.isoformat()}).status_code == 202
        )
        for service, consumers in CONSUMERS.items():
            for consumer in consumers:
                wait_for(lambda: sample(stack.urls[service], "clock_tick_applied_timestamp_seconds", consumer=consumer)
                         == forward.timestamp(), 90, f"{consumer} applied the tick")

        def numbers():
            out = {}
            for view in ("weekly", "members", "daytypes"):
                r = httpx.get(f"{metrics}/v1/cohorts/{cohort}/{view}", headers=admin)
                out[view] = r.json() if r.status_code == 200 else r.status_code
            return out

        wait_for(lambda: any(a["type"] == "alert.raised" for a in log_of("alerts")), 60, "the alert")
        wait_for(lambda: sum(s["type"] == "survey.invited" for s in log_of("surveys")) == 2, 60, "T0 invitations")
        wait_for(lambda: (n := numbers())["members"] != 404 and len(n["members"]) == 2, 60, "the numbers")
        before = {"numbers": numbers(), "alerts": log_of("alerts"), "surveys": log_of("surveys"),
                  "notifications": log_of("notifications.outbound")}
        ignored = {c: sample(stack.urls[s], "clock_ticks_ignored_total", consumer=c, reason="duplicate_or_stale")
                   for s, cs in CONSUMERS.items() for c in cs}

        backwards = local(2, 12, 0)  # a reminder slot of day 2, the day `away` first missed
        assert (
            httpx.post(ingest + "/v1/admin/clock", headers=admin, json={"now": backwards.isoformat()}).status_code
            == 202
        )
        for service, consumers in CONSUMERS.items():
            for consumer in consumers:
                wait_for(lambda: sample(stack.urls[service], "clock_ticks_ignored_total", consumer=consumer,
                                        reason="duplicate_or_stale") >= ignored[consumer] + 6,
                         90, f"{consumer} ignored the backwards tick on every partition")
                assert sample(stack.urls[service], "clock_tick_applied_timestamp_seconds",
                              consumer=consumer) == forward.timestamp()
        after = {"numbers": numbers(), "alerts": log_of("alerts"), "surveys": log_of("surveys"),
                 "notifications": log_of("notifications.outbound")}
    assert after == before
    assert not any(n.get("data", {}).get("day") == local(2, 0).date().isoformat() for n in after["notifications"])
