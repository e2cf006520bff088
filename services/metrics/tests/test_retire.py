"""Retiring members whose follow-up ended (docs/scale.md, "Retiring ended members") keeps the metrics
stream's book small and changes no published follow-up day: a book that retires publishes the same
last value for every follow-up day as one that never retires, also when records arrive after the
retirement (late events inside the accepted lateness, re-delivered enrolments and events, a zone
change, use of the app after the cohort ended), and an erasure of a retired member still tombstones
every day published under its id."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta, timezone

import orjson

from contracts.daily import EngagementDay
from contracts.events import parse_recorded_event
from contracts.members import CohortConfigured, CohortSettings, MemberEnrolled, MemberTimezoneChanged, MemberWithdrawn
from services.metrics.state import MemberDayBook

START = date(2026, 3, 2)
ENDS_ON = START + timedelta(days=27)
WINDOW = timedelta(days=32)
LATENESS = timedelta(days=30)  # ingest refuses events older than this before the latest tick


def _at(day: date, hour: int = 10) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=timezone.utc)


def _event(member: str, at: datetime, kind: str = "login", event_id: str | None = None):
    payload = {"task": "meal"} if kind == "checkin" else {}
    return parse_recorded_event(orjson.dumps({
        "event_id": event_id or str(uuid.uuid4()), "type": kind, "member_id": member,
        "occurred_at": at.isoformat(), "received_at": at.isoformat(), "payload": payload}))


def _enrolment(member: str, cohort: str, zone: str = "UTC") -> MemberEnrolled:
    return MemberEnrolled(event_id=uuid.uuid5(uuid.NAMESPACE_URL, member), member_id=member, cohort=cohort,
                          timezone=zone, enrolled_on=START, occurred_at=_at(START))


def _timeline() -> list[tuple[date, list]]:
    """Per day (ticked at its end): the records written that day, as a live log would hold them."""
    configured = [CohortConfigured(event_id=uuid.uuid4(), cohort=c, occurred_at=_at(START),
                                   settings=CohortSettings(ends_on=ends_on))
                  for c, ends_on in (("c", ENDS_ON), ("open", None))]
    days: list[tuple[date, list]] = []
    resent = _event("late", _at(ENDS_ON - timedelta(days=2)), "checkin")
    for n in range(110):
        day = START + timedelta(days=n)
        records: list = []
        if n == 0:
            records += configured + [_enrolment(m, "c", "Asia/Tokyo" if m == "zoned" else "UTC")
                                     for m in ("steady", "zoned", "late", "leaver")] + [_enrolment("ongoing", "open")]
        records += [_event("steady", _at(day)), _event("ongoing", _at(day))]  # steady goes on after the end
        if n % 3 == 0:
            records.append(_event("zoned", _at(day, 20), "checkin"))
        if n == 5:
            records.append(MemberWithdrawn(event_id=uuid.uuid4(), member_id="leaver", cohort="c",
                                           withdrawn_on=day + timedelta(days=3), occurred_at=_at(day)))
        if n == 20:
            records.append(MemberTimezoneChanged(event_id=uuid.uuid4(), member_id="zoned", cohort="c", timezone="UTC",
                                                 effective_on=day, occurred_at=_at(day)))
        if n == ENDS_ON.toordinal() - START.toordinal() + 25:  # a late upload, inside the accepted lateness
            records += [resent, _event("late", _at(ENDS_ON), "checkin")]
        if n == 90:  # long after the retirement: re-delivered enrolments and a re-delivered event
            records += [_enrolment("steady", "c"), _enrolment("late", "c"), records[0]]
        days.append((day, records))
    return days


def _apply(book: MemberDayBook, record) -> list[EngagementDay]:
    if isinstance(record, CohortConfigured):
        return book.configure(record)
    if isinstance(record, MemberEnrolled):
        return book.enrol(record)
    if isinstance(record, MemberWithdrawn):
        return book.withdraw(record)
    if isinstance(record, MemberTimezoneChanged):
        return book.change_timezone(record)
    return book.apply_event(record)


def _run(retiring: bool) -> tuple[MemberDayBook, dict[str, EngagementDay], dict[str, date]]:
    """The book, the last value published per key, and the day each member was retired."""
    book, published, retired_on = MemberDayBook(dedup_window=WINDOW), {}, {}
    for day, records in _timeline():
        for record in records:
            for d in _apply(book, record):
                published[f"{d.member_id}|{d.day}"] = d
        book.tick(_at(day, 23))
        for member in book.retire(_at(day, 23)) if retiring else []:
            retired_on[member] = day
    return book, published, retired_on


def test_a_retiring_book_publishes_the_same_follow_up_days_as_one_that_keeps_everyone():
    plain, kept, _ = _run(retiring=False)
    book, published, retired_on = _run(retiring=True)
    assert set(retired_on) == {"steady", "zoned", "late", "leaver"}  # "ongoing": its cohort has no end
    assert all(day > ENDS_ON + WINDOW for day in retired_on.values())
    follow_up = {key: d for key, d in kept.items() if d.in_follow_up}
    assert len(follow_up) > 100 and {key: published.get(key) for key in follow_up} == follow_up
    # the late upload (inside the lateness) counted before the retirement, in both books
    assert kept[f"late|{ENDS_ON}"].tasks_done == ("meal",) == published[f"late|{ENDS_ON}"].tasks_done
    # what the book keeps: the open cohort's member, and only the ids (with their day spans) of the others
    assert set(book.members) == {"ongoing"} and set(book.days_of) == {"ongoing"}
    assert set(book.first_delivery) <= {"ongoing"} and set(book.retired) == set(retired_on)
    assert book.retired_records > 0 and plain.retired_records == 0  # app use after the end, re-deliveries
    assert {member for member, _ in book.days} == {"ongoing"} and len(plain.days) > 2 * len(book.days)


def test_an_erasure_after_the_retirement_tombstones_every_day_published_under_the_id():
    book, published, _ = _run(retiring=True)
    tombstoned, renamed = book.erase("steady", "pseudo")
    assert {key for key in published if key.startswith("steady|")} <= {f"steady|{d}" for d in tombstoned}
    assert renamed == [] and "steady" not in book.retired and "steady" not in book.members
    assert book.apply_event(_event("steady", _at(START + timedelta(days=120)))) == []  # renamed, still ignored


def test_a_member_is_retired_once_the_window_after_the_cohort_end_passed_in_the_member_s_zone():
    book = MemberDayBook(dedup_window=WINDOW)
    book.configure(CohortConfigured(event_id=uuid.uuid4(), cohort="c", occurred_at=_at(START),
                                    settings=CohortSettings(ends_on=ENDS_ON)))
    book.enrol(_enrolment("east", "c", "Pacific/Kiritimati"))  # UTC+14: its days end 14 hours earlier
    book.enrol(_enrolment("west", "c", "Pacific/Pago_Pago"))  # UTC-11
    window_end = datetime.combine(ENDS_ON + timedelta(days=1), time(0), tzinfo=timezone.utc) + WINDOW
    assert book.retire(window_end - timedelta(hours=14, minutes=30)) == []  # not yet in any zone
    assert book.retire(window_end - timedelta(hours=14)) == []  # east is due, but at most once an hour
    assert book.retire(window_end - timedelta(hours=13)) == ["east"]
    assert book.retire(window_end + timedelta(hours=10)) == []
    assert book.retire(window_end + timedelta(hours=11)) == ["west"]
