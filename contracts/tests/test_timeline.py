"""contracts.timeline: zone history, follow-up periods and settings versions (docs/timeline.md)."""

from datetime import date, datetime, time, timedelta, timezone
from uuid import uuid4
from zoneinfo import ZoneInfo

from hypothesis import given, settings as hsettings, strategies as st

from contracts.members import CohortSettings, MemberEnrolled, MemberTimezoneChanged, MemberWithdrawn
from contracts.timeline import FollowUp, SettingsHistory, ZoneHistory, apply_member_record

UTC = timezone.utc
# Zones whose local date never runs backwards (no DST change across midnight in 2020-2035), spread
# from UTC-11 to UTC+14 with half- and quarter-hour offsets and DST on both hemispheres.
ZONES = ["UTC", "Asia/Shanghai", "Europe/Berlin", "America/New_York", "Pacific/Kiritimati", "Pacific/Pago_Pago",
         "Australia/Lord_Howe", "Asia/Kathmandu", "America/St_Johns", "Australia/Sydney"]


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


# --- zones: examples -------------------------------------------------------------------------------

def test_without_changes_the_local_day_is_the_zones_date():
    zones = ZoneHistory("Asia/Shanghai")
    assert zones.local_day(utc(2026, 11, 2, 15, 59)) == date(2026, 11, 2)
    assert zones.local_day(utc(2026, 11, 2, 16, 0)) == date(2026, 11, 3)
    assert zones.day_start(date(2026, 11, 3)) == utc(2026, 11, 2, 16)


def test_moving_east_new_zone_from_its_midnight_earlier_instants_keep_the_old_date():
    # Berlin (UTC+1) → Shanghai (UTC+8) from 2026-11-10: 00:00 Shanghai = 2026-11-09 16:00 UTC.
    zones = ZoneHistory("Europe/Berlin").changed("Asia/Shanghai", date(2026, 11, 10))
    assert zones.local_day(utc(2026, 11, 9, 15, 59)) == date(2026, 11, 9)  # Berlin 16:59 on the 9th
    assert zones.local_day(utc(2026, 11, 9, 16, 0)) == date(2026, 11, 10)  # Shanghai midnight
    assert zones.local_day(utc(2026, 11, 1, 12)) == date(2026, 11, 1)  # the past keeps Berlin's dates
    # The 9th is cut short: it ends when the new zone's 10th begins.
    assert zones.day_end(date(2026, 11, 9)) == utc(2026, 11, 9, 16)
    assert zones.day_start(date(2026, 11, 9)) == utc(2026, 11, 8, 23)


def test_moving_west_the_last_old_day_is_stretched_never_repeated():
    # Shanghai (UTC+8) → New York (UTC-5) from 2026-11-10: 00:00 New York = 2026-11-10 05:00 UTC.
    zones = ZoneHistory("Asia/Shanghai").changed("America/New_York", date(2026, 11, 10))
    # 2026-11-09 20:00 UTC is already the 10th in Shanghai, but before New York's midnight: at most the 9th.
    assert zones.local_day(utc(2026, 11, 9, 20)) == date(2026, 11, 9)
    assert zones.local_day(utc(2026, 11, 10, 5)) == date(2026, 11, 10)
    assert zones.day_start(date(2026, 11, 9)) == utc(2026, 11, 8, 16)
    assert zones.day_end(date(2026, 11, 9)) == utc(2026, 11, 10, 5)  # a 37-hour day
    assert zones.zone_on(date(2026, 11, 9)) == "Asia/Shanghai"
    assert zones.zone_on(date(2026, 11, 10)) == "America/New_York"
    assert zones.at(date(2026, 11, 10), time(8)) == utc(2026, 11, 10, 13)


def test_a_second_change_of_the_same_date_replaces_the_first():
    zones = ZoneHistory("UTC").changed("Asia/Shanghai", date(2026, 1, 10)).changed("Asia/Tokyo", date(2026, 1, 10))
    assert zones.changes == ((date(2026, 1, 10), "Asia/Tokyo"),)
    assert zones.current == "Asia/Tokyo"


# --- zones: properties -----------------------------------------------------------------------------

changes = st.lists(
    st.tuples(st.dates(date(2026, 1, 1), date(2026, 12, 31)), st.sampled_from(ZONES)), max_size=3)
instants = st.datetimes(datetime(2025, 12, 1), datetime(2027, 2, 1), timezones=st.just(UTC))


def history(first: str, steps) -> ZoneHistory:
    zones = ZoneHistory(first)
    for effective_on, name in steps:
        zones = zones.changed(name, effective_on)
    return zones


@hsettings(max_examples=300, deadline=None)
@given(st.sampled_from(ZONES), changes, instants, instants)
def test_local_days_never_run_backwards(first, steps, a, b):
    zones = history(first, steps)
    a, b = min(a, b), max(a, b)
    assert zones.local_day(a) <= zones.local_day(b)


@hsettings(max_examples=300, deadline=None)
@given(st.sampled_from(ZONES), changes, st.dates(date(2025, 12, 5), date(2027, 1, 25)))
def test_day_start_is_the_first_instant_of_the_day_or_later(first, steps, day):
    zones = history(first, steps)
    start = zones.day_start(day)
    assert zones.local_day(start) >= day
    assert zones.local_day(start - timedelta(microseconds=1)) < day


@hsettings(max_examples=300, deadline=None)
@given(st.sampled_from(ZONES), st.sampled_from(ZONES), st.dates(date(2026, 1, 1), date(2026, 12, 31)), instants)
def test_one_change_splits_time_at_the_new_zones_midnight(old, new, effective_on, instant):
    zones = ZoneHistory(old).changed(new, effective_on)
    boundary = datetime.combine(effective_on, time(0), tzinfo=ZoneInfo(new))
    if instant < boundary:
        expected = min(instant.astimezone(ZoneInfo(old)).date(), effective_on - timedelta(days=1))
    else:
        expected = instant.astimezone(ZoneInfo(new)).date()
        assert expected >= effective_on
    assert zones.local_day(instant) == expected


@hsettings(max_examples=200, deadline=None)
@given(st.sampled_from(ZONES), changes, st.sampled_from(ZONES), st.dates(date(2027, 1, 2), date(2027, 3, 1)), instants)
def test_a_later_change_never_moves_an_instant_before_its_midnight(first, steps, new, effective_on, instant):
    before = history(first, steps)
    after = before.changed(new, effective_on)
    if instant < datetime.combine(effective_on, time(0), tzinfo=ZoneInfo(new)):
        assert after.local_day(instant) == min(before.local_day(instant), effective_on - timedelta(days=1))


# --- follow-up -------------------------------------------------------------------------------------

def test_first_enrolment_is_day_one():
    follow_up = FollowUp.enrolled(date(2026, 3, 1))
    assert follow_up.day_number(date(2026, 3, 1)) == 1
    assert not follow_up.in_follow_up(date(2026, 2, 28))
    assert follow_up.in_follow_up(date(2026, 9, 1))
    assert not follow_up.in_follow_up(date(2026, 9, 1), ends_on=date(2026, 6, 30))


def test_a_future_dated_withdrawal_takes_effect_on_its_date():
    follow_up = FollowUp.enrolled(date(2026, 3, 1)).withdraw(date(2026, 3, 20))
    assert follow_up.is_withdrawn and follow_up.withdrawn_on == date(2026, 3, 20)
    assert follow_up.in_follow_up(date(2026, 3, 19))
    assert not follow_up.withdrawn_on_day(date(2026, 3, 19))
    assert not follow_up.in_follow_up(date(2026, 3, 20)) and follow_up.withdrawn_on_day(date(2026, 3, 20))
    assert follow_up.last_day() == date(2026, 3, 19)


def test_re_enrolment_continues_day_numbers_and_leaves_the_gap_outside():
    follow_up = FollowUp.enrolled(date(2026, 3, 1)).withdraw(date(2026, 3, 11)).re_enrol(date(2026, 3, 21))
    assert not follow_up.is_withdrawn and follow_up.withdrawn_on is None
    assert [follow_up.in_follow_up(date(2026, 3, d)) for d in (10, 11, 20, 21)] == [True, False, False, True]
    assert follow_up.day_number(date(2026, 3, 21)) == 21
    days = list(follow_up.days(date(2026, 3, 25)))
    assert len(days) == 10 + 5 and days[10] == date(2026, 3, 21)
    assert follow_up.last_day() is None


def test_an_enrolment_while_enrolled_changes_nothing_and_a_second_withdrawal_corrects_the_date():
    follow_up = FollowUp.enrolled(date(2026, 3, 1))
    assert follow_up.re_enrol(date(2026, 4, 1)) == follow_up
    assert follow_up.withdraw(date(2026, 3, 20)).withdraw(date(2026, 3, 15)).withdrawn_on == date(2026, 3, 15)


@hsettings(max_examples=300, deadline=None)
@given(st.dates(date(2026, 1, 1), date(2026, 2, 1)),
       st.lists(st.integers(0, 40), min_size=0, max_size=6), st.dates(date(2025, 12, 1), date(2026, 6, 1)))
def test_follow_up_is_the_union_of_its_periods(enrolled_on, gaps, day):
    # Alternate withdrawals and re-enrolments, each `gap` days after the previous step.
    follow_up, step, periods, start = FollowUp.enrolled(enrolled_on), enrolled_on, [], enrolled_on
    for i, gap in enumerate(gaps):
        step += timedelta(days=gap)
        if i % 2 == 0:
            follow_up = follow_up.withdraw(step)
            periods.append((start, step))
        else:
            follow_up, start = follow_up.re_enrol(step), step
    if len(gaps) % 2 == 0:
        periods.append((start, None))
    expected = any(s <= day and (e is None or day < e) for s, e in periods)
    assert follow_up.in_follow_up(day) == expected
    assert follow_up.day_number(day) == (day - enrolled_on).days + 1
    assert follow_up.withdrawn_on_day(day) == (day >= enrolled_on and not expected)


def member_records():
    now = utc(2026, 3, 1)
    common = {"member_id": "m-1", "cohort": "c", "occurred_at": now}
    return [
        MemberEnrolled(event_id=uuid4(), timezone="Asia/Shanghai", enrolled_on=date(2026, 3, 1), **common),
        MemberTimezoneChanged(event_id=uuid4(), timezone="Europe/Berlin", effective_on=date(2026, 3, 5), **common),
        MemberWithdrawn(event_id=uuid4(), withdrawn_on=date(2026, 3, 10), **common),
        MemberEnrolled(event_id=uuid4(), timezone="America/New_York", enrolled_on=date(2026, 3, 20), **common),
        MemberEnrolled(event_id=uuid4(), member_id="m-1", cohort="other", timezone="UTC", enrolled_on=date(2026, 4, 1),
                       occurred_at=now),
    ]


def test_member_records_fold_into_one_timeline():
    timeline = None
    for record in member_records():
        timeline = apply_member_record(timeline, record)
    assert timeline.cohort == "c"  # the enrolment in another cohort is ignored (ingest refuses it)
    assert timeline.follow_up.periods == ((date(2026, 3, 1), date(2026, 3, 10)), (date(2026, 3, 20), None))
    # The re-enrolment's zone applies from its date.
    assert timeline.zones.zone_on(date(2026, 3, 19)) == "Europe/Berlin"
    assert timeline.zones.zone_on(date(2026, 3, 20)) == "America/New_York"
    assert timeline.day_number(date(2026, 3, 20)) == 20
    assert timeline.local_day(utc(2026, 3, 2, 17)) == date(2026, 3, 3)  # Shanghai


# --- settings versions -----------------------------------------------------------------------------

def test_each_day_is_judged_by_the_configuration_in_force():
    first = CohortSettings(tasks=("meal",), intervention_weeks=4)
    second = CohortSettings(tasks=("meal", "exercise"), intervention_weeks=6, holidays=(date(2026, 5, 1),))
    history = SettingsHistory().configured(first, date(2026, 3, 1)).configured(second, date(2026, 4, 1))
    assert history.settings_on(date(2026, 2, 1)).tasks == ("meal",)  # before the first: the first
    assert history.settings_on(date(2026, 3, 31)).tasks == ("meal",)
    assert history.settings_on(date(2026, 4, 1)).tasks == ("meal", "exercise")
    assert history.settings_on(date(2026, 4, 1)).holidays == (date(2026, 5, 1),)
    # Not date-effective: the latest value judges every day.
    assert history.settings_on(date(2026, 3, 2)).intervention_weeks == 6
    assert history.latest == second


def test_a_configuration_without_a_date_applies_from_the_beginning():
    history = SettingsHistory().configured(CohortSettings(tasks=("meal",)), None)
    assert history.settings_on(date(2000, 1, 1)).tasks == ("meal",)
    assert SettingsHistory().settings_on(date(2026, 1, 1)) == CohortSettings()


VARIANTS = [("meal",), ("exercise",), ("meditation",), ("meal", "exercise")]


@hsettings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.one_of(st.none(), st.dates(date(2026, 1, 1), date(2026, 1, 20))),
                          st.integers(0, 3), st.integers(1, 8)), min_size=1, max_size=6),
       st.dates(date(2025, 12, 25), date(2026, 1, 25)))
def test_settings_on_matches_a_naive_reading_of_the_rule(records, day):
    history = SettingsHistory()
    for effective_on, variant, weeks in records:
        history = history.configured(CohortSettings(tasks=VARIANTS[variant], intervention_weeks=weeks), effective_on)
    dated = [(effective_on or date.min, i) for i, (effective_on, _, _) in enumerate(records)]
    in_force = [v for v in dated if v[0] <= day]
    chosen = max(in_force) if in_force else max(v for v in dated if v[0] == min(dated)[0])
    judged = history.settings_on(day)
    assert judged.tasks == VARIANTS[records[chosen[1]][1]]
    assert judged.intervention_weeks == records[-1][2]


def test_a_record_folded_twice_changes_nothing_even_out_of_order():
    records = member_records()
    once = None
    for record in records:
        once = apply_member_record(once, record)
    again = once
    for record in records:  # a second delivery of the whole history (log tail after a stream agent)
        again = apply_member_record(again, record)
    assert again == once and again.follow_up.periods == once.follow_up.periods
    assert again.first_enrolment.enrolled_on == date(2026, 3, 1) and again.enrolment.enrolled_on == date(2026, 3, 20)
