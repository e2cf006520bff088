"""Member time in the notifier, on the real broker (docs/timeline.md): a withdrawal dated in the
future takes effect on its date (defect 8), a re-enrolment continues follow-up after the gap, a zone
change moves reminders to the new zone's wall clock from its date, and cohort settings judge each
day by the configuration in force on it. The runtime is driven tick by tick, as the faust agent does."""

import json
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from testsupport.broker import read_topic
from testsupport.polling import wait_until

from .conftest import notifier_client, notifier_settings, unique

ENROLLED = date(2026, 9, 1)
SH, BE = "Asia/Shanghai", "Europe/Berlin"


def day(n: int) -> date:
    return ENROLLED + timedelta(days=n - 1)


def local(zone: str, n: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime.combine(day(n), time(hour, minute), tzinfo=ZoneInfo(zone))


def test_withdrawal_date_re_enrolment_zone_change_and_settings_in_force(broker, world, jwt_secret, tmp_path):
    cohort = unique("c-time")
    world.configure(cohort, nurses=["n-a"], reminder_times=["08:00"])
    world.configure(cohort, effective_on=day(4), nurses=["n-a"], tasks=["meal"], reminder_times=["12:00"])
    leaving, returning, moving = unique("m-leave"), unique("m-back"), unique("m-move")
    for member in (leaving, returning, moving):
        world.enrol(member, cohort, SH, ENROLLED)
    world.withdraw(leaving, cohort, day(5))  # recorded on day 1, dated day 5
    world.withdraw(returning, cohort, day(3))
    world.enrol(returning, cohort, SH, day(6))  # re-enrolment in the same cohort
    world.change_zone(moving, cohort, BE, day(3))
    for n in (1, 2, 3, 4, 5, 6, 7):
        world.event(moving, local(BE if n >= 3 else SH, n, 9))  # the mover logs in daily: never alerted

    with notifier_client(notifier_settings(broker, jwt_secret, str(tmp_path))) as client:
        runtime, state = client.app.state.runtime, client.app.state.runtime.state
        client.portal.call(runtime.rebuilt.wait)
        wait_until(lambda: cohort in state.cohorts and len(state.cohorts[cohort].effective_dates) == 2, what="settings")
        wait_until(lambda: state.members.get(returning) and not state.members[returning].follow_up.is_withdrawn
                   and state.members.get(moving) and state.members[moving].zones.changes
                   and state.members.get(leaving) and state.members[leaving].follow_up.is_withdrawn
                   and len(state.days.get(moving, {})) == 7, what="members folded")

        def tick(now: datetime) -> None:
            value = json.dumps({"type": "clock.tick", "event_id": "00000000-0000-4000-8000-000000000000",
                                "now": now.isoformat()}).encode()
            for p in range(6):
                client.portal.call(runtime.on_tick_record, p, value)

        def alert(member: str):
            view = [v for v in state.queue.alerts.values() if v.member_id == member]
            return view[-1] if view else None

        def reminders(member: str) -> list[str]:
            return sorted(k.split("|", 2)[2] for k in state.requested if k.startswith(f"reminder|{member}|"))

        # Day 3 08:00 in Shanghai is 00:00 UTC; the mover already lives in Berlin (02:00 there).
        tick(local(SH, 3, 8))
        assert reminders(moving) == []
        assert reminders(leaving) == [f"{day(3)}|08:00"]  # still in follow-up: the withdrawal is dated day 5
        assert reminders(returning) == [], "withdrawn from day 3"
        tick(local(BE, 3, 8))
        assert reminders(moving) == [f"{day(3)}|08:00"]

        # Days 1-3 missed: the member withdrawing on day 5 is still followed up, and alerted.
        tick(local(SH, 4, 0))
        assert alert(leaving) is not None and alert(leaving).since == day(1), "defect 8: silenced at once"
        assert alert(returning) is None and alert(moving) is None

        # From day 4 the cohort's second configuration judges: one task, a 12:00 reminder only.
        tick(local(SH, 4, 8))
        tick(local(SH, 4, 12))
        assert reminders(leaving) == [f"{day(3)}|08:00", f"{day(4)}|12:00"]
        outbound = [json.loads(r.value) for r in read_topic(broker, "notifications.outbound")
                    if r.key == leaving.encode()]
        # Only the sent requests carry deep-link data; `notification.skipped` records share the topic.
        requested = [n for n in outbound if n.get("type") == "notification.requested" and n["kind"] == "reminder"]
        remaining = {n["data"]["day"]: n["data"]["remaining"] for n in requested}
        assert remaining == {day(3).isoformat(): "meal,exercise,meditation", day(4).isoformat(): "meal"}
        tick(local(SH, 5, 0))
        assert alert(leaving).status == "resolved" and alert(leaving).resolved_reason == "withdrawn"
        tick(local(SH, 5, 12))
        assert reminders(leaving)[-1] == f"{day(4)}|12:00", "no reminder on or after the withdrawal date"

        # The re-enrolled member is followed up again from day 6: reminded, and alerted once two
        # follow-up days (day 6 and day 2: the gap is skipped) are missed.
        tick(local(SH, 6, 12))
        assert reminders(returning) == [f"{day(6)}|12:00"]
        tick(local(SH, 7, 0))
        assert alert(returning) is not None and alert(returning).through == day(6)
        assert alert(returning).since == day(1)  # days 1, 2 and 6 missed; 3-5 were not follow-up days
        engagement = state.engagement_of(returning, days_back=6)
        assert [d["in_follow_up"] for d in engagement["recent_days"]] == [True, True, False, False, False, True, True]
