"""Schedule rules and the survey book, without a broker: enrolment + ticks → steps at local times."""

from datetime import date, datetime, time, timedelta, timezone
from uuid import uuid4
from zoneinfo import ZoneInfo

from hypothesis import given, settings, strategies as st

from contracts.members import MemberEnrolled, MemberTimezoneChanged, MemberWithdrawn
from contracts.surveys import SurveyInvited, SurveyPlan, SurveyReminded, SurveyResponded
from services.survey.schedule import Step, due_steps, local_moment, schedule
from services.survey.state import SurveyBook, notification_for

UTC = timezone.utc


def enrolled(member="m-ny", zone="America/New_York", day=date(2026, 10, 20), cohort="c-1"):
    return MemberEnrolled(event_id=uuid4(), member_id=member, cohort=cohort, timezone=zone, enrolled_on=day,
                          occurred_at=datetime(2026, 10, 1, tzinfo=UTC))


def at(zone, y, m, d, hh=9, mm=0):
    return datetime(y, m, d, hh, mm, tzinfo=ZoneInfo(zone)).astimezone(UTC)


def test_schedule_is_at_nine_local_on_days_1_14_28_and_29_across_dst():
    steps = {(s.instrument, s.timepoint): s for s in schedule(enrolled(), SurveyPlan())}
    assert sorted(steps) == [("experience", "post"), ("qlq_c30", "T0"), ("qlq_c30", "T1"), ("qlq_c30", "T2")]
    t0, t1 = steps["qlq_c30", "T0"], steps["qlq_c30", "T1"]
    assert t0.due_at == datetime(2026, 10, 20, 13, tzinfo=UTC)          # 09:00 EDT
    assert t0.reminders_at == (datetime(2026, 10, 21, 13, tzinfo=UTC), datetime(2026, 10, 23, 13, tzinfo=UTC))
    assert t0.expires_at == datetime(2026, 10, 27, 13, tzinfo=UTC)
    assert t1.follow_up_day == 14 and t1.due_at == datetime(2026, 11, 2, 14, tzinfo=UTC)  # 09:00 EST after DST end
    assert steps["qlq_c30", "T2"].due_at == at("America/New_York", 2026, 11, 16)
    assert steps["experience", "post"].due_at == at("America/New_York", 2026, 11, 17)
    again = {(s.instrument, s.timepoint): s.invitation_id for s in schedule(enrolled(), SurveyPlan())}
    assert again == {k: s.invitation_id for k, s in steps.items()}  # deterministic ids


def test_plan_settings_change_days_and_time():
    plan = SurveyPlan(qlq_c30_days={"T0": 2, "T2": 10}, experience_day=12, invite_time=time(18, 30),
                      reminder_after_days=(2,), expire_after_days=4)
    steps = schedule(enrolled(zone="Asia/Shanghai", day=date(2026, 11, 2)), plan)
    assert [(s.timepoint, s.due_at) for s in steps] == [
        ("T0", datetime(2026, 11, 3, 10, 30, tzinfo=UTC)), ("T2", datetime(2026, 11, 11, 10, 30, tzinfo=UTC)),
        ("post", datetime(2026, 11, 13, 10, 30, tzinfo=UTC))]
    assert steps[0].reminders_at == (datetime(2026, 11, 5, 10, 30, tzinfo=UTC),)
    assert steps[0].expires_at == datetime(2026, 11, 7, 10, 30, tzinfo=UTC)


def test_dst_gap_moves_to_the_next_valid_wall_time():
    assert local_moment(date(2027, 3, 14), time(2, 30), "America/New_York") == datetime(2027, 3, 14, 7, 30, tzinfo=UTC)


def test_due_steps():
    s = schedule(enrolled(), SurveyPlan())[0]
    minute = timedelta(minutes=1)
    assert due_steps(s, "scheduled", 0, s.due_at - minute) == []
    assert due_steps(s, "scheduled", 0, s.due_at) == [Step("invite")]
    assert due_steps(s, "invited", 0, s.reminders_at[0] - minute) == []
    assert due_steps(s, "invited", 0, s.reminders_at[0]) == [Step("remind", 1)]
    assert due_steps(s, "invited", 1, s.reminders_at[1] - minute) == []
    assert due_steps(s, "invited", 0, s.reminders_at[1]) == [Step("remind", 2)]  # no burst of stale reminders
    assert due_steps(s, "invited", 2, s.expires_at - minute) == []
    assert due_steps(s, "invited", 2, s.expires_at) == [Step("expire")]
    assert due_steps(s, "scheduled", 0, s.expires_at + minute) == [Step("expire")]  # never sent a stale invitation
    late = s.reminders_at[0] + minute  # invitation went out after reminder 1's time: only reminder 2 follows
    assert due_steps(s, "invited", 0, late + timedelta(hours=1), invited_at=late) == []
    assert due_steps(s, "invited", 0, s.reminders_at[1], invited_at=late) == [Step("remind", 2)]
    for closed in ("responded", "expired", "cancelled"):
        assert due_steps(s, closed, 0, s.expires_at) == []


def walk(book, start, end, step=timedelta(hours=1)):
    """Tick hourly; return [(type, member, timepoint, local time, reminder)] in order."""
    out, now = [], start
    while now <= end:
        for e in book.on_tick(now):
            zone = book.invitations[e.invitation_id].scheduled.timezone
            out.append((e.type, e.member_id, e.timepoint, e.occurred_at.astimezone(ZoneInfo(zone)).replace(tzinfo=None),
                        getattr(e, "reminder", None)))
        now += step
    return out


def test_two_members_in_two_zones_walk_the_whole_schedule():
    book = SurveyBook()
    book.on_enrolled(enrolled("m-ny", "America/New_York", date(2026, 10, 20)))
    book.on_enrolled(enrolled("m-sh", "Asia/Shanghai", date(2026, 10, 20)))
    steps = walk(book, datetime(2026, 10, 19, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))
    for member in ("m-ny", "m-sh"):
        mine = [s for s in steps if s[1] == member]
        for tp, day in (("T0", date(2026, 10, 20)), ("T1", date(2026, 11, 2)), ("T2", date(2026, 11, 16)),
                        ("post", date(2026, 11, 17))):
            nine = datetime.combine(day, time(9))
            assert [(s[0], s[3], s[4]) for s in mine if s[2] == tp] == [
                ("survey.invited", nine, None),
                ("survey.reminded", nine + timedelta(days=1), 1),
                ("survey.reminded", nine + timedelta(days=3), 2),
                ("survey.expired", nine + timedelta(days=7), None),
            ], (member, tp)
    assert book.open_ids == set()


def test_a_response_stops_reminders_and_expiry_and_withdrawal_cancels_what_is_open():
    book = SurveyBook()
    book.on_enrolled(enrolled("m-sh", "Asia/Shanghai", date(2026, 11, 2)))
    t0 = next(i for i in book.member_invitations("m-sh") if i.scheduled.timepoint == "T0")
    book.on_tick(t0.scheduled.due_at)
    assert [i.id for i in book.pending("m-sh")] == [t0.id]
    book.apply(SurveyResponded(event_id=uuid4(), response_id=uuid4(), items={"1": 1}, occurred_at=t0.scheduled.due_at,
                               **t0.header()))
    assert book.on_tick(t0.scheduled.expires_at) == [] and t0.status == "responded" and book.pending("m-sh") == []
    t1 = next(i for i in book.member_invitations("m-sh") if i.scheduled.timepoint == "T1")
    book.on_tick(t1.scheduled.due_at)
    withdrawal = MemberWithdrawn(event_id=uuid4(), member_id="m-sh", cohort="c-1", withdrawn_on=date(2026, 11, 16),
                                 occurred_at=t1.scheduled.due_at)
    assert book.on_withdrawn(withdrawal) == []  # dated tomorrow: it takes effect on its date, not at once
    assert [i.id for i in book.pending("m-sh")] == [t1.id]
    midnight = datetime(2026, 11, 16, tzinfo=ZoneInfo("Asia/Shanghai"))
    assert book.on_tick(midnight - timedelta(seconds=1)) == []
    assert [(e.type, e.timepoint) for e in book.on_tick(midnight)] == [("survey.cancelled", "T1")]
    later = book.on_tick(datetime(2027, 1, 1, tzinfo=UTC))  # the rest falls due while withdrawn
    assert sorted((e.type, e.timepoint) for e in later) == [("survey.cancelled", "T2"), ("survey.cancelled", "post")]
    assert {i.status for i in book.member_invitations("m-sh")} == {"responded", "cancelled"}
    assert book.on_tick(datetime(2027, 1, 2, tzinfo=UTC)) == []


def test_a_withdrawal_in_effect_cancels_the_sent_invitation_at_once():
    book = SurveyBook()
    book.on_enrolled(enrolled("m-sh", "Asia/Shanghai", date(2026, 11, 2)))
    book.on_tick(at("Asia/Shanghai", 2026, 11, 2, 10))
    cancelled = book.on_withdrawn(MemberWithdrawn(event_id=uuid4(), member_id="m-sh", cohort="c-1",
                                                  withdrawn_on=date(2026, 11, 2), occurred_at=book.now))
    assert [(e.type, e.timepoint) for e in cancelled] == [("survey.cancelled", "T0")]


def test_re_enrolment_continues_the_first_schedule_and_never_issues_t0_again():
    book = SurveyBook()
    first = book.on_enrolled(enrolled(day=date(2026, 10, 20)))
    assert len(first) == 4
    assert book.on_enrolled(enrolled(day=date(2026, 10, 20))) == []  # the same enrolment again: nothing new
    assert book.on_enrolled(enrolled(day=date(2026, 11, 1))) == []  # still enrolled: not a re-enrolment (409 at ingest)
    assert [(e.type, e.timepoint) for e in book.on_tick(at("America/New_York", 2026, 10, 20))] == [
        ("survey.invited", "T0")]
    book.on_withdrawn(MemberWithdrawn(event_id=uuid4(), member_id="m-ny", cohort="c-1", withdrawn_on=date(2026, 10, 22),
                                      occurred_at=book.now))
    assert [(e.type, e.timepoint) for e in book.on_tick(at("America/New_York", 2026, 10, 21, 10))] == [
        ("survey.reminded", "T0")]  # still followed up on the 21st
    assert [(e.type, e.timepoint) for e in book.on_tick(at("America/New_York", 2026, 10, 22, 0))] == [
        ("survey.cancelled", "T0")]
    assert book.on_enrolled(enrolled(day=date(2026, 10, 25))) == []  # re-enrolled: the schedule continues
    steps = book.on_tick(at("America/New_York", 2026, 11, 2))
    assert [(e.type, e.timepoint) for e in steps] == [("survey.invited", "T1")]  # day 14 of the FIRST enrolment
    assert {inv.scheduled.timepoint for inv in book.member_invitations("m-ny")} == {"T0", "T1", "T2", "post"}


def test_a_zone_change_moves_later_steps_to_the_new_wall_clock():
    book = SurveyBook()
    book.on_enrolled(enrolled("m-sh", "Asia/Shanghai", date(2026, 11, 2)))
    book.fold_member(MemberTimezoneChanged(event_id=uuid4(), member_id="m-sh", cohort="c-1", timezone="Europe/Berlin",
                                           effective_on=date(2026, 11, 10), occurred_at=datetime(2026, 11, 3, tzinfo=UTC)))
    t0 = book.on_tick(at("Asia/Shanghai", 2026, 11, 2))  # before the change: Shanghai's 09:00
    assert [(e.type, e.timepoint) for e in t0] == [("survey.invited", "T0")]
    # T0's expiry (the 9th, before the change) keeps Shanghai's clock; T1 (day 14, the 15th) waits for Berlin's 09:00.
    assert [(e.type, e.timepoint) for e in book.on_tick(at("Asia/Shanghai", 2026, 11, 15))] == [("survey.expired", "T0")]
    assert [(e.type, e.timepoint) for e in book.on_tick(at("Europe/Berlin", 2026, 11, 15))] == [("survey.invited", "T1")]
    t1 = next(i for i in book.member_invitations("m-sh") if i.scheduled.timepoint == "T1")
    assert t1.status == "invited" and t1.invited_at == at("Europe/Berlin", 2026, 11, 15)


def test_a_book_rebuilt_from_the_events_decides_exactly_the_same():
    book, log = SurveyBook(), []
    log += book.on_enrolled(enrolled("m-ny", "America/New_York", date(2026, 10, 20)), partition=2)
    log += book.on_tick(datetime(2026, 10, 21, 14, tzinfo=UTC), partition=2)  # T0 invited late: reminder 1 skipped
    rebuilt = SurveyBook()
    rebuilt.apply_all(log, partition=2)
    assert rebuilt.apply_all(log) == []  # replays are no-ops
    assert rebuilt.on_tick(datetime(2026, 10, 21, 15, tzinfo=UTC), partition=2) == []  # nothing is re-sent
    assert rebuilt.on_tick(datetime(2026, 10, 23, 13, tzinfo=UTC), partition=5) == []  # not this partition's member
    later = datetime(2026, 10, 23, 13, tzinfo=UTC)
    assert [(e.type, e.reminder) for e in rebuilt.on_tick(later, partition=2)] == [("survey.reminded", 2)]
    assert [(e.type, e.reminder) for e in book.on_tick(later, partition=2)] == [("survey.reminded", 2)]


def test_invitations_and_reminders_become_push_requests_with_stable_dedup_keys():
    book = SurveyBook()
    book.on_enrolled(enrolled())
    events = book.on_tick(datetime(2026, 10, 20, 13, tzinfo=UTC)) + book.on_tick(datetime(2026, 10, 21, 13, tzinfo=UTC))
    assert [type(e) for e in events] == [SurveyInvited, SurveyReminded]
    notes = [notification_for(e) for e in events]
    inv = events[0].invitation_id
    assert [n.dedup_key for n in notes] == [f"survey|{inv}|invited", f"survey|{inv}|reminder:1"]
    assert [n.kind for n in notes] == ["survey_invitation", "survey_reminder"]
    assert notes[0].recipient == "m-ny" and notes[0].data["invitation_id"] == str(inv)
    assert notification_for(events[0]) == notes[0]  # same event → same request (same event_id)


def reference_tick(book, now):
    """The rules applied by brute force: every open invitation checked against due_steps."""
    out = []
    for inv in sorted((book.invitations[i] for i in book.open_ids), key=lambda i: (i.scheduled.member_id, i.scheduled.due_at)):
        out += [(inv.id, step) for step in due_steps(inv.scheduled, inv.status, inv.reminders_sent, now, inv.invited_at)]
    return out


@settings(max_examples=60, deadline=None)
@given(
    zones=st.lists(st.sampled_from(["Asia/Shanghai", "America/New_York", "Europe/Berlin", "Pacific/Auckland"]),
                   min_size=1, max_size=4),
    hops=st.lists(st.integers(min_value=1, max_value=60 * 24 * 9), min_size=1, max_size=40),
    answer_every=st.integers(min_value=2, max_value=7),
)
def test_the_due_index_decides_like_a_full_scan(zones, hops, answer_every):
    book = SurveyBook()
    for n, zone in enumerate(zones):
        book.on_enrolled(enrolled(f"m-{n}", zone, date(2026, 10, 20) + timedelta(days=n)), partition=n % 2)
    now = datetime(2026, 10, 19, tzinfo=UTC)
    for k, minutes in enumerate(hops):
        now += timedelta(minutes=minutes)
        expected = reference_tick(book, now)
        got = [e for p in (0, 1) for e in book.on_tick(now, p)]
        kinds = {"survey.invited": "invite", "survey.reminded": "remind", "survey.expired": "expire"}
        assert sorted((e.invitation_id, kinds[e.type], getattr(e, "reminder", 0)) for e in got) == sorted(
            (i, s.kind, s.number) for i, s in expected)
        if k % answer_every == 0:
            for inv in list(book.invitations.values()):
                if inv.status == "invited":
                    book.apply(SurveyResponded(event_id=uuid4(), response_id=uuid4(), items={"1": 1},
                                               occurred_at=now, **inv.header()))
                    break
