"""The open-ended stage on the real broker (runtime driven tick by tick): a 7-day login rate below
50 % raises an alert, it escalates after 24 h, resolves only when the rate has recovered (one login is
not enough), and a new low-rate episode raises a new alert."""

import json
from datetime import date, datetime, time, timedelta
from uuid import uuid4
from zoneinfo import ZoneInfo

from testsupport.broker import read_topic
from testsupport.polling import wait_until

from .conftest import notifier_client, notifier_settings, unique

ENROLLED = date(2026, 8, 1)
BE, SYD = "Europe/Berlin", "Australia/Sydney"


def local(zone: str, day: int, hour: int = 0) -> datetime:
    return datetime.combine(ENROLLED + timedelta(days=day - 1), time(hour), tzinfo=ZoneInfo(zone))


def test_open_ended_low_login_rate_episodes(broker, world, jwt_secret, tmp_path):
    cohort = unique("c")
    world.configure(cohort, nurses=["n-a"], lead_nurse="n-a")
    low, steady = unique("m-low"), unique("m-steady")
    world.enrol(low, cohort, BE, ENROLLED)
    world.enrol(steady, cohort, SYD, ENROLLED)
    login_days = [*range(1, 30), 32, 36, 37, 38, 39]
    for d in login_days:
        world.event(low, local(BE, d, 10))
    for d in range(1, 46):
        world.event(steady, local(SYD, d, 10))
    with notifier_client(notifier_settings(broker, jwt_secret, str(tmp_path))) as client:
        runtime = client.app.state.runtime
        client.portal.call(runtime.rebuilt.wait)
        wait_until(lambda: len(runtime.state.days.get(low, {})) == len(login_days) and len(runtime.state.days.get(steady, {})) == 45,
                   what="events folded")
        for d in range(29, 45):
            for hour in (0, 12):
                now = local(BE, d, hour)
                value = json.dumps({"type": "clock.tick", "event_id": str(uuid4()), "now": now.isoformat()}).encode()
                for p in range(6):
                    client.portal.call(runtime.on_tick_record, p, value)

    steps = [json.loads(r.value) for r in read_topic(broker, "alerts", expect_at_least=4)
             if r.key.decode() in (low, steady)]
    got = sorted(((datetime.fromisoformat(s["occurred_at"]), s["type"], s["member_id"], s.get("since"), s.get("reason"))
                  for s in steps), key=lambda s: s[0])
    day = lambda n: (ENROLLED + timedelta(days=n - 1)).isoformat()  # noqa: E731
    assert got == [
        (local(BE, 35), "alert.raised", low, day(34), None),      # days 28-34: 3 of 7 days with a login
        (local(BE, 36), "alert.escalated", low, None, None),      # not acknowledged within 24 h
        (local(BE, 39), "alert.resolved", low, None, "active_again"),  # days 32-38: 4 of 7 (day 36 alone was not enough)
        (local(BE, 44), "alert.raised", low, day(43), None),      # days 37-43: 3 of 7 — a new episode
    ]
    assert {s["rule"] for s in steps if s["type"] == "alert.raised"} == {"open_ended_low_login_rate"}
