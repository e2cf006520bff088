"""The notifier's pure rules, without a broker."""

from datetime import date, datetime, time, timedelta, timezone
from uuid import uuid4
from zoneinfo import ZoneInfo

from contracts.engagement import DayEngagement
from contracts.events import client_event_adapter
from contracts.members import CohortSettings
from services.notifier import rules
from services.notifier.rules import history, member

ENROLLED = date(2026, 9, 1)  # day 1; days 1-28 intervention, day 29 on open-ended
SH = "Asia/Shanghai"
DEFAULT = history(CohortSettings())
SH_ZONES = member("m-1", "c-1", "Asia/Shanghai", date(2026, 9, 1)).zones


def at(day: date, hour: int = 0, minute: int = 0, zone: str = SH) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=ZoneInfo(zone)).astimezone(timezone.utc)


def day(n: int) -> date:
    return ENROLLED + timedelta(days=n - 1)


def logins(*numbers: int) -> dict:
    return {day(n): DayEngagement(True, frozenset(), 0) for n in numbers}


MEMBER = member("m-1", "c-1", SH, ENROLLED)


def test_two_fully_missed_days_in_intervention_alert_only_once_the_second_day_is_over():
    days = logins(1)
    assert rules.evaluate(MEMBER, DEFAULT, days, at(day(3), 23, 59)) is None  # day 3 not over: only day 2 missed
    finding = rules.evaluate(MEMBER, DEFAULT, days, at(day(4), 0, 0))
    assert finding is not None and finding.rule == "intervention_inactive"
    assert (finding.since, finding.through, finding.missed_days, finding.last_login_on) == (day(2), day(3), 2, day(1))


def test_the_local_day_decides_not_utc():
    ny = member("m-ny", "c-1", "America/New_York", ENROLLED)
    days = {}  # never logged in: days 1 and 2 missed once New York's day 3 has begun
    assert rules.evaluate(ny, DEFAULT, days, at(day(3), 0, 0, zone=SH)) is None  # still day 2 in New York
    assert rules.evaluate(ny, DEFAULT, days, at(day(3), 0, 0, zone="America/New_York")).since == day(1)


def test_a_login_today_or_a_login_inside_the_window_means_no_alert():
    assert rules.evaluate(MEMBER, DEFAULT, logins(1, 4), at(day(4), 9)) is None
    assert rules.evaluate(MEMBER, DEFAULT, logins(1, 3), at(day(4), 9)) is None


def test_the_episode_start_is_stable_while_the_streak_goes_on():
    first = rules.evaluate(MEMBER, DEFAULT, logins(1), at(day(4), 1))
    later = rules.evaluate(MEMBER, DEFAULT, logins(1), at(day(9), 1))
    assert first.alert_id == later.alert_id and later.through == day(8)


def test_cohort_threshold_and_enrolment_day_bound_the_streak():
    three = history(CohortSettings(inactive_days_intervention=3))
    assert rules.evaluate(MEMBER, three, logins(1), at(day(4), 1)) is None
    assert rules.evaluate(MEMBER, three, logins(1), at(day(5), 1)).missed_days == 3
    assert rules.evaluate(MEMBER, DEFAULT, {}, at(day(2), 12)) is None  # only one complete day exists


def test_open_ended_stage_uses_the_seven_day_login_rate():
    regular = logins(*range(1, 29), 29, 31, 33, 35)  # 4 of days 29-35 → 57 %
    assert rules.evaluate(MEMBER, DEFAULT, regular, at(day(36), 1)) is None
    sparse = logins(*range(1, 29), 30, 33, 35)  # days 29-35: 3/7 = 43 %, today (36) no login
    finding = rules.evaluate(MEMBER, DEFAULT, sparse, at(day(36), 1))
    assert finding.rule == "open_ended_low_login_rate" and finding.missed_days == 4 and finding.through == day(35)
    # the low-rate run started on the first open-ended day whose window was already low
    assert finding.since == rules.evaluate(MEMBER, DEFAULT, sparse, at(day(37), 1)).since


def test_open_ended_alert_resolves_when_the_rate_recovers_not_on_one_login():
    days = logins(*range(1, 30), 32)  # through day 34: days 28-34 → 3/7
    f = rules.evaluate(MEMBER, DEFAULT, days, at(day(35), 1))
    assert (f.rule, f.since) == ("open_ended_low_login_rate", day(34))
    once = logins(*range(1, 30), 32, 36)
    assert rules.resolution(f.rule, f.through, MEMBER, DEFAULT, once, at(day(37), 1)) is None
    back = logins(*range(1, 30), 32, 36, 37, 38)
    assert rules.resolution(f.rule, f.through, MEMBER, DEFAULT, back, at(day(38), 12)) is None  # days 31-37: 3/7
    assert rules.resolution(f.rule, f.through, MEMBER, DEFAULT, back, at(day(39), 0)) == "active_again"  # 32-38: 4/7


def test_withdrawn_members_and_ended_cohorts_never_alert():
    withdrawn = member("m-1", "c-1", SH, ENROLLED, withdrawn_on=day(10))
    assert rules.evaluate(withdrawn, DEFAULT, {}, at(day(10), 1)) is None  # from the withdrawal date on
    assert rules.evaluate(withdrawn, DEFAULT, {}, at(day(11), 1)) is None
    # Defect 8: a withdrawal dated in the future takes effect on its date, not at once.
    assert rules.evaluate(withdrawn, DEFAULT, {}, at(day(5), 1)).through == day(4)
    ended = history(CohortSettings(ends_on=day(3)))
    assert rules.evaluate(MEMBER, ended, {}, at(day(4), 1)) is None


def test_resolution_when_active_again_late_event_withdrawn_or_ended():
    f = rules.evaluate(MEMBER, DEFAULT, logins(1), at(day(4), 1))
    assert rules.resolution(f.rule, f.through, MEMBER, DEFAULT, logins(1), at(day(4), 8)) is None
    assert rules.resolution(f.rule, f.through, MEMBER, DEFAULT, logins(1, 4), at(day(4), 8)) == "active_again"
    assert rules.resolution(f.rule, f.through, MEMBER, DEFAULT, logins(1, 3), at(day(4), 8)) == "active_again"
    withdrawn = member("m-1", "c-1", SH, ENROLLED, withdrawn_on=day(5))
    assert rules.resolution(f.rule, f.through, withdrawn, DEFAULT, {}, at(day(4), 8)) is None  # not yet
    assert rules.resolution(f.rule, f.through, withdrawn, DEFAULT, {}, at(day(5), 0)) == "withdrawn"
    assert rules.resolution(f.rule, f.through, MEMBER, history(CohortSettings(ends_on=day(4))), {}, at(day(5), 8)) \
        == "follow_up_ended"


def test_escalation_after_24_hours_and_assignment_balances_by_unresolved_count():
    raised = at(day(4), 1)
    assert not rules.escalation_due(raised, raised + timedelta(hours=23, minutes=59))
    assert rules.escalation_due(raised, raised + timedelta(hours=24))
    assert rules.pick_nurse(("n-a", "n-b"), {}) == "n-a"
    assert rules.pick_nurse(("n-a", "n-b"), {"n-a": 1}) == "n-b"
    assert rules.pick_nurse(("n-a", "n-b"), {"n-a": 1, "n-b": 1}) == "n-a"
    assert rules.pick_nurse((), {}) is None


def test_only_the_latest_slot_within_the_grace_period_is_due():
    grace = timedelta(hours=1)
    slots = CohortSettings().reminder_times
    assert rules.due_slot(at(day(2), 7, 59), SH_ZONES, slots, grace) is None
    assert rules.due_slot(at(day(2), 8, 0), SH_ZONES, slots, grace) == (day(2), time(8))
    assert rules.due_slot(at(day(2), 8, 59), SH_ZONES, slots, grace) == (day(2), time(8))
    assert rules.due_slot(at(day(2), 9, 0), SH_ZONES, slots, grace) is None  # passed by a full hour: skipped
    assert rules.due_slot(at(day(2), 12, 30), SH_ZONES, slots, grace) == (day(2), time(12))  # 08:00 jumped over
    assert rules.due_slot(at(day(2), 19, 5), SH_ZONES, slots, grace) == (day(2), time(19))


def test_reminders_name_the_remaining_tasks_and_stop_when_all_are_done():
    def checkin(task: str, hour: int):
        return client_event_adapter.validate_python({"type": "checkin", "event_id": str(uuid4()), "member_id": "m-1",
                                     "occurred_at": at(day(2), hour).isoformat(), "payload": {"task": task}})

    days: dict = {}
    rules.add_event(days, checkin("meal", 7), SH_ZONES)
    reminder = rules.reminder_for(MEMBER, DEFAULT, days, at(day(2), 8), timedelta(hours=1))
    assert reminder.remaining == ("exercise", "meditation")
    assert reminder.body == "Still to do today: exercise, meditation."
    assert reminder.dedup_key == f"reminder|m-1|{day(2)}|08:00"
    rules.add_event(days, checkin("exercise", 9), SH_ZONES)
    rules.add_event(days, checkin("meditation", 10), SH_ZONES)
    assert rules.reminder_for(MEMBER, DEFAULT, days, at(day(2), 12), timedelta(hours=1)) is None
    assert rules.reminder_for(MEMBER, DEFAULT, {}, at(day(0), 8), timedelta(hours=1)) is None  # before enrolment


def test_every_local_midnight_since_2000_falls_on_a_utc_quarter_hour():
    """The notifier keeps what members did per UTC quarter hour and re-derives local days from it
    after a zone change (state.py): exact only if every zone's offset is whole quarter hours."""
    from zoneinfo import available_timezones

    odd = {(name, moment.astimezone(ZoneInfo(name)).utcoffset()) for name in available_timezones()
           for moment in (datetime(y, m, 1, tzinfo=timezone.utc) for y in range(2000, 2041) for m in (1, 7))
           if moment.astimezone(ZoneInfo(name)).utcoffset().total_seconds() % 900}
    assert odd == set()


def test_slots_passed_beyond_the_grace_window_or_superseded_are_recorded_as_missed():
    grace = timedelta(hours=2)
    settings = history(CohortSettings(reminder_times=[time(8), time(9), time(19)]))
    none_done: dict = {}

    def missed(now):
        return [(m.day, m.slot, m.reason) for m in rules.missed_slots(MEMBER, settings, none_done, now, grace)]

    assert missed(at(day(2), 8, 30)) == [(day(1), time(8), "past_grace"), (day(1), time(9), "past_grace"),
                                         (day(1), time(19), "past_grace")]
    today = [m for m in missed(at(day(2), 9, 30)) if m[0] == day(2)]
    assert today == [(day(2), time(8), "superseded")]  # 09:00 is due at the same tick
    assert [m for m in missed(at(day(2), 11, 30)) if m[0] == day(2)] == [(day(2), time(8), "past_grace"),
                                                                        (day(2), time(9), "past_grace")]
    # a shorter stop: 09:00 passed 1 h 59 min ago is still due (sent late), so not missed
    assert rules.due_slot(at(day(2), 10, 59), SH_ZONES, settings.latest.reminder_times, grace) == (day(2), time(9))
    # before enrolment, after withdrawal or with every task done: nothing to record
    assert rules.missed_slots(MEMBER, settings, none_done, at(day(1), 8, 30), grace) == []
    gone = member("m-1", "c-1", SH, ENROLLED, withdrawn_on=day(1))  # outside follow-up from day 1 on
    assert rules.missed_slots(gone, settings, none_done, at(day(2), 11), grace) == []
    tasks = frozenset(DEFAULT.latest.tasks)
    done = {day(2): DayEngagement(True, tasks, 3), day(1): DayEngagement(True, tasks, 3)}
    assert rules.missed_slots(MEMBER, settings, done, at(day(2), 11), grace) == []
    assert {m.dedup_key for m in rules.missed_slots(MEMBER, settings, none_done, at(day(2), 11, 30), grace)} >= {
        "reminder|m-1|2026-09-02|08:00"}
