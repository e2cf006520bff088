"""The directory's pure decisions (the broker-backed behaviour is in test_guards.py)."""

from datetime import date, datetime, timedelta, timezone
from uuid import uuid4

from contracts.members import EnrollmentRequest, MemberEnrolled, MemberWithdrawn, TimezoneChangeRequest
from services.ingest.directory import Directory, EnrolmentVerdict, Refusal

NOW = datetime(2026, 11, 10, 20, tzinfo=timezone.utc)


def enrolled(directory: Directory, member="m-1", cohort="c-1", zone="Asia/Shanghai", on=date(2026, 11, 1)):
    directory.fold(MemberEnrolled(event_id=uuid4(), member_id=member, cohort=cohort, timezone=zone, enrolled_on=on,
                                  occurred_at=NOW))


def request(**over) -> EnrollmentRequest:
    return EnrollmentRequest(**({"member_id": "m-1", "cohort": "c-1", "timezone": "Asia/Shanghai",
                                 "enrolled_on": date(2026, 11, 1)} | over))


def test_enrolment_verdicts():
    directory = Directory()
    assert directory.enrolment(request()) == EnrolmentVerdict("new")
    enrolled(directory)
    assert directory.enrolment(request()).kind == "unchanged"
    assert directory.enrolment(request(enrolled_on=date(2026, 11, 2))) == Refusal(
        409, "enrolled_on", "member is already enrolled with a different enrolled_on")
    directory.fold(MemberWithdrawn(event_id=uuid4(), member_id="m-1", cohort="c-1", withdrawn_on=date(2026, 11, 20),
                                   occurred_at=NOW))
    assert directory.enrolment(request()).field == "enrolled_on"  # a late retry of the first enrolment
    assert directory.enrolment(request(cohort="c-2", enrolled_on=date(2026, 12, 1))).field == "cohort"
    assert directory.enrolment(request(enrolled_on=date(2026, 11, 20))) == EnrolmentVerdict("re-enrolment")


def test_zone_change_dates_are_judged_in_the_members_zone_by_the_latest_tick():
    directory = Directory()
    enrolled(directory)
    change = TimezoneChangeRequest(timezone="UTC", effective_on=date(2000, 1, 1))
    assert not isinstance(directory.timezone_change("m-1", change), Refusal)  # no tick: any date
    directory.fold_tick(NOW)
    directory.fold_tick(NOW - timedelta(days=3))  # an older tick changes nothing
    refused = directory.timezone_change("m-1", TimezoneChangeRequest(timezone="UTC", effective_on=date(2026, 11, 10)))
    assert refused == Refusal(422, "effective_on", "must not be earlier than the member's current local date 2026-11-11")
    assert directory.timezone_change("m-2", change) == Refusal(404, "member_id", "unknown member")


def test_event_refusals():
    directory = Directory()
    enrolled(directory)
    age = timedelta(days=30)
    assert directory.event_problem("m-1", NOW - timedelta(days=400), age) is None  # no tick: no age limit
    directory.fold_tick(NOW)
    assert directory.event_problem("m-1", NOW - age, age) is None
    assert directory.event_problem("m-1", NOW - age - timedelta(seconds=1), age)[1] == "too_old"
    assert directory.event_problem("m-9", NOW, age)[1] == "not_enrolled"
    assert directory.settings_effective_on(None) == date(2026, 11, 10)
    assert isinstance(directory.settings_effective_on(date(2026, 11, 9)), Refusal)
