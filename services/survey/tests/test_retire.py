"""Retiring members whose every survey step closed long ago (docs/scale.md, "Retiring ended members"):
the book decides exactly like one that keeps everyone, also for records that arrive after the
retirement (a re-delivered enrolment, scheduled step or withdrawal), and staff still read the
answered experience surveys."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from uuid import uuid4

from contracts.members import MemberEnrolled, MemberWithdrawn
from contracts.surveys import SurveyPlan, SurveyResponded
from services.common.dedup import SeenIds
from services.survey.schedule import schedule
from services.survey.state import SurveyBook

UTC = timezone.utc
START = date(2026, 3, 2)
WINDOW = timedelta(days=30)


def _book(retiring: bool) -> SurveyBook:
    book = SurveyBook(plan=SurveyPlan(), seen=SeenIds(WINDOW))
    if not retiring:
        book.retire = lambda now: []  # the same book without the rule
    return book


def _enrolled(member: str, day: date = START) -> MemberEnrolled:
    return MemberEnrolled(event_id=uuid4(), member_id=member, cohort="c", timezone="Europe/Berlin", enrolled_on=day,
                          occurred_at=datetime(2026, 3, 1, tzinfo=UTC))


def _response(book: SurveyBook, member: str, instrument: str, now: datetime) -> SurveyResponded | None:
    for inv in book.pending(member):
        if inv.scheduled.instrument == instrument:
            given = {"answers": {"q1": "the group"}} if instrument == "experience" else {"items": {"1": 1}}
            return SurveyResponded(event_id=uuid4(), response_id=uuid4(), occurred_at=now, **given, **inv.header())
    return None


def test_a_retiring_book_decides_like_one_that_keeps_everyone():
    plain, retiring = _book(False), _book(True)
    enrolments = [_enrolled("answers"), _enrolled("silent"), _enrolled("leaver"),
                  _enrolled("late", START + timedelta(70))]
    withdrawal = MemberWithdrawn(event_id=uuid4(), member_id="leaver", cohort="c", withdrawn_on=START + timedelta(5),
                                 occurred_at=datetime(2026, 3, 3, tzinfo=UTC))
    for book in (plain, retiring):
        for enrolment in enrolments:
            book.on_enrolled(enrolment, 0)
    steps = []
    for hours in range(0, 24 * 160, 3):
        now = datetime(2026, 3, 2, tzinfo=UTC) + timedelta(hours=hours)
        if hours == 24 * 4:
            assert [plain.on_withdrawn(withdrawal, 0)] == [retiring.on_withdrawn(withdrawal, 0)]
        decided = [[(type(e).__name__, e.event_id) for e in book.on_tick(now, 0)] for book in (plain, retiring)]
        assert decided[0] == decided[1], now
        steps += decided[0]
        for instrument in ("qlq_c30", "experience"):
            response = _response(plain, "answers", instrument, now)
            if response is not None:
                assert plain.apply(response, 0) and retiring.apply(response, 0)
        if hours == 24 * 120:  # answers, silent, leaver retired; late (enrolled on day 71) not yet
            assert retiring.retired == {"answers", "silent", "leaver"}
            for book in (plain, retiring):  # re-delivered records: no new schedule, no step
                assert book.on_enrolled(_enrolled("silent"), 0) == []
                book.on_withdrawn(withdrawal, 0)
                for scheduled in schedule(_enrolled("answers"), book.plan):
                    book.apply(scheduled.model_copy(update={"event_id": uuid4()}), 0)
    assert steps and retiring.retired == {"answers", "silent", "leaver", "late"}
    assert retiring.experience_responses("c") == plain.experience_responses("c") != []
    assert set(retiring.invitations) == {inv.id for inv in plain.experience_responses("c")}
    assert retiring.members == {} and retiring.open_ids == set() == plain.open_ids


def test_an_erased_retired_member_leaves_no_id_in_the_snapshot():
    book = _book(True)
    book.on_enrolled(_enrolled("gone"), 0)
    book.on_tick(datetime(2026, 9, 1, tzinfo=UTC), 0)  # everything expired ...
    book.on_tick(datetime(2026, 11, 1, tzinfo=UTC), 0)  # ... long ago
    assert book.retired == {"gone"}
    book.erase("gone")
    assert "gone" not in str(book.to_snapshot())
