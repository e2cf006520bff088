"""The reminder grace window on the real broker (docs/clock.md): the clock stopped across a reminder
time for longer than NOTIFIER_REMINDER_GRACE_MINUTES → the slot is skipped and recorded
(`notification.skipped` on notifications.outbound + notifier_reminders_skipped_total); a shorter stop →
the reminder is sent once, late. The runtime is driven tick by tick as the faust agent does."""

import json
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from testsupport.broker import read_topic
from testsupport.polling import wait_until

from .conftest import World, notifier_client, notifier_settings, unique

ENROLLED = date(2026, 9, 1)
SH = "Asia/Shanghai"


def local(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(ENROLLED + timedelta(days=day - 1), time(hour, minute), tzinfo=ZoneInfo(SH))


def _skipped_total(client) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith('notifier_reminders_skipped_total{reason="past_grace"}'):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_a_long_stop_skips_and_records_a_short_stop_sends_once_late(own_broker, jwt_secret, tmp_path):
    # A broker of its own: the skipped counter has no member label, so members left on the shared broker
    # by earlier tests would add their own past-grace slots to the delta (9 instead of 1 in a full run).
    _, broker = own_broker
    world = World(broker)
    try:
        _run(broker, world, jwt_secret, tmp_path)
    finally:
        world.close()


def _run(broker, world, jwt_secret, tmp_path):
    long_cohort, short_cohort = unique("c-long"), unique("c-short")
    world.configure(long_cohort, reminder_times=["08:00"])   # passed by 2 h 30 min at the first tick after the stop
    world.configure(short_cohort, reminder_times=["09:00"])  # passed by 1 h 30 min: within the 2 h window
    long_member, short_member = unique("m-long"), unique("m-short")
    enrolled_on = ENROLLED + timedelta(days=1)  # day 2: no earlier day in follow-up whose slots count as missed
    world.enrol(long_member, long_cohort, SH, enrolled_on)
    world.enrol(short_member, short_cohort, SH, enrolled_on)
    settings = notifier_settings(broker, jwt_secret, str(tmp_path))
    assert settings.reminder_grace_minutes == 120  # the default

    with notifier_client(settings) as client:
        runtime = client.app.state.runtime
        client.portal.call(runtime.rebuilt.wait)
        wait_until(lambda: {long_member, short_member} <= runtime.state.members.keys()
                   and {long_cohort, short_cohort} <= runtime.state.cohorts.keys(), what="state")
        before = _skipped_total(client)

        def tick(now: datetime) -> None:
            value = json.dumps({"type": "clock.tick", "event_id": "00000000-0000-4000-8000-000000000000",
                                "now": now.isoformat()}).encode()
            for p in range(6):
                client.portal.call(runtime.on_tick_record, p, value)

        tick(local(2, 7, 59))
        tick(local(2, 10, 30))  # the clock was stopped from 07:59 to 10:30
        for minute in (31, 45):
            tick(local(2, 10, minute))
        assert _skipped_total(client) == before + 1

    def ours(member):
        records = read_topic(broker, "notifications.outbound", expect_at_least=2)
        return [json.loads(r.value) for r in records if r.key == member.encode()]

    long_records = wait_until(lambda: ours(long_member), what="the skipped record")
    assert [(r["type"], r["dedup_key"], r["reason"], r["due_at"], r["occurred_at"]) for r in long_records] == [
        ("notification.skipped", f"reminder|{long_member}|2026-09-02|08:00", "past_grace",
         local(2, 8).isoformat(), local(2, 10, 30).isoformat())]
    short_records = [r for r in wait_until(lambda: ours(short_member), what="the late reminder")
                     if r["type"] == "notification.requested"]
    assert [(r["dedup_key"], r["occurred_at"]) for r in short_records] == [
        (f"reminder|{short_member}|2026-09-02|09:00", local(2, 10, 30).isoformat())]  # once, late
