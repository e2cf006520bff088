"""The changing cohort (`loadtests.changes`) and the independent count (`loadtests.recount`) — pure, no broker.

The count is checked on the worked examples of docs/metrics.md, so that it and the platform are two
readings of the same page; the generator is checked to contain every change the acceptance needs."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime

from contracts.events import parse_client_event
from loadtests.changes import changes_cohort
from loadtests.recount import cohort_of, differences, recount

SETTINGS = "/v1/cohorts/c/settings"


def _enrol(member: str, on: str, zone: str = "Europe/Berlin") -> tuple:
    return ("POST", "/v1/enrollments", {"member_id": member, "cohort": "c", "timezone": zone, "enrolled_on": on}, None)


def _event(member: str, at: str, kind: str = "login", payload: dict | None = None, event_id: str | None = None):
    return {"event_id": event_id or f"{member}-{at}-{kind}", "type": kind, "member_id": member, "occurred_at": at,
            "payload": payload or {}}


def _events(*events) -> tuple:
    return ("POST", "/v1/events", list(events), None)


def _tick(now: str) -> tuple:
    return ("POST", "/v1/admin/clock", {"now": now}, None)


def _settings(ends_on: str = "2026-12-31", effective_on: str | None = None, **extra) -> tuple:
    return ("PUT", SETTINGS, {"ends_on": ends_on, "tasks": ["meal", "exercise", "meditation"], **extra},
            {"effective_on": effective_on} if effective_on else None)


def test_zone_change_example():
    """docs/metrics.md: Shanghai → Berlin from 20 November; 23:30Z on the 19th is Berlin's 20th, 20:00Z
    (Shanghai's 20th, 04:00) stays on the 19th."""
    steps = [_settings(), _enrol("z", "2026-11-01", "Asia/Shanghai"),
             ("PUT", "/v1/members/z/timezone", {"timezone": "Europe/Berlin", "effective_on": "2026-11-20"}, None)]
    member = cohort_of(steps).members["z"]
    assert member.day_of(datetime.fromisoformat("2026-11-19T23:30:00+00:00")) == date(2026, 11, 20)
    assert member.day_of(datetime.fromisoformat("2026-11-19T20:00:00+00:00")) == date(2026, 11, 19)
    assert member.day_of(datetime.fromisoformat("2026-11-19T15:00:00+00:00")) == date(2026, 11, 19)


def test_denominator_example():
    """docs/metrics.md: A logs in 7 days, B 3, C withdrawn from day 5 logs in on its 4 days → 14 / 18
    (followup), 14 / 21 (enrolled)."""
    days = [f"2026-11-0{d}T10:00:00+01:00" for d in range(2, 9)]
    steps = [_settings(), *(_enrol(m, "2026-11-02") for m in "ABC"),
             ("POST", "/v1/withdrawals", {"member_id": "C", "cohort": "c", "withdrawn_on": "2026-11-06"}, None),
             _events(*(_event("A", d) for d in days), *(_event("B", d) for d in days[:3]),
                     *(_event("C", d) for d in days)),  # C's events after the withdrawal do not count
             _tick("2026-11-09T12:00:00+00:00")]
    truth = recount(steps)
    week = truth["weekly?denominator=followup"][0]
    assert (week["member_days"], week["logged_in_days"], round(week["login_rate"], 2)) == (18, 14, 77.78)
    week = truth["weekly?denominator=enrolled"][0]
    assert (week["member_days"], week["logged_in_days"], round(week["login_rate"], 2)) == (21, 14, 66.67)
    assert [m["activity"] for m in truth["members"]] == ["pending", "pending", "insufficient"]


def test_reenrolment_tasks_and_conflict_examples():
    """docs/metrics.md: enrolled 1 November, withdrawn from the 11th, re-enrolled on the 21st (day 21);
    tasks without meditation from 1 December; a re-used event id that says `exercise` changes nothing."""
    steps = [_settings(), _enrol("r", "2026-11-01"),
             ("POST", "/v1/withdrawals", {"member_id": "r", "cohort": "c", "withdrawn_on": "2026-11-11"}, None),
             _enrol("r", "2026-11-21"),
             _settings(effective_on="2026-12-01", tasks=["meal", "exercise"]),
             _events(_event("r", "2026-11-30T09:00:00+01:00", "checkin", {"task": "meal"}),
                     _event("r", "2026-11-30T10:00:00+01:00", "checkin", {"task": "exercise"}),
                     _event("r", "2026-12-01T09:00:00+01:00", "checkin", {"task": "meal"}),
                     _event("r", "2026-12-01T10:00:00+01:00", "checkin", {"task": "exercise"}, "x"),
                     _event("r", "2026-11-15T10:00:00+01:00"),  # in the gap: never counted
                     _event("r", "2026-11-29T10:00:00+01:00", "checkin", {"task": "exercise"}, "x")),  # conflict
             _tick("2026-12-10T12:00:00+00:00")]
    truth = recount(steps)
    daily = {d["day"]: d for d in truth["daily?denominator=followup"]}
    assert "2026-11-15" not in daily and daily["2026-11-21"]["member_days"] == 1
    assert (daily["2026-11-30"]["participated_days"], daily["2026-11-30"]["completed_days"]) == (1, 0)
    assert daily["2026-12-01"]["completed_days"] == 1
    assert daily["2026-11-29"]["logged_in_days"] == 0  # the conflicting delivery is not an event
    weeks = [(w["week"], w["member_days"]) for w in truth["weekly?denominator=followup"]]
    assert weeks[:4] == [(1, 7), (2, 3), (3, 1), (4, 7)]  # days 11–20 skipped, day 21 in week 3
    member = truth["members"][0]
    # follow-up days so far: 1–10 and 21 November – 9 December (the tick's today, 10 December, is not over)
    assert (member["follow_up_days"], member["window_days"], member["activity"]) == (29, 28, "inactive")
    assert member["withdrawn_on"] is None and member["enrolled_on"] == "2026-11-01"


def test_follow_up_that_ended_with_no_day_left_is_insufficient():
    """docs/metrics.md: `insufficient` when follow-up ended before day 28 — also when it ended with no
    follow-up day at all (withdrawn on the enrolment day) or when the only period left starts after the
    cohort's end (re-enrolled too late); `pending` while a follow-up day is still to come."""
    steps = [_settings(ends_on="2026-11-20"), _enrol("a", "2026-11-02"), _enrol("b", "2026-11-02"),
             _enrol("c", "2026-11-02"),
             ("POST", "/v1/withdrawals", {"member_id": "a", "cohort": "c", "withdrawn_on": "2026-11-02"}, None),
             ("POST", "/v1/withdrawals", {"member_id": "b", "cohort": "c", "withdrawn_on": "2026-11-10"}, None),
             _enrol("b", "2026-11-21"),
             ("POST", "/v1/withdrawals", {"member_id": "c", "cohort": "c", "withdrawn_on": "2026-11-25"}, None)]
    during = [m["activity"] for m in recount([*steps, _tick("2026-11-12T12:00:00+00:00")])["members"]]
    # a: no follow-up day at all; b: its only period left starts after the end; c: days to come until 20 November
    assert during == ["insufficient", "insufficient", "pending"]
    after = [m["activity"] for m in recount([*steps, _tick("2026-11-22T12:00:00+00:00")])["members"]]
    assert after == ["insufficient", "insufficient", "insufficient"]


def test_make_up_working_day_example():
    """docs/metrics.md: holidays 1–7 October, Saturday 10 October worked."""
    holidays = [f"2026-10-0{d}" for d in range(1, 8)]
    steps = [_settings(holidays=holidays, working_days=["2026-10-10"]), _enrol("w", "2026-10-01"),
             _tick("2026-10-12T12:00:00+00:00")]
    types = {t["day_type"]: t for t in recount(steps)["daytypes?stage=all&denominator=followup"]}
    # working: 8, 9 (Thu, Fri), 10 (make-up Saturday); non-working: 1–7, 11
    assert (types["working"]["member_days"], types["non-working"]["member_days"]) == (3, 8)


def test_the_generated_cohort_has_every_change():
    g = changes_cohort()
    kinds = Counter(path.rsplit("/", 1)[-1] for _, path, _, _ in g.steps)
    assert kinds["timezone"] >= 8 and kinds["settings"] == 4 and kinds["withdrawals"] >= 12
    dated = {params["effective_on"]: body for _, path, body, params in g.steps if path.endswith("/settings") and params}
    assert len(dated) == 2 and all(body["holidays"] and body["working_days"] for body in dated.values())
    ticks = [datetime.fromisoformat(body["now"]) for _, path, body, _ in g.steps if path == "/v1/admin/clock"]
    assert ticks != sorted(ticks)  # an old tick sent again
    withdrawn = Counter(body["member_id"] for _, path, body, _ in g.steps if path == "/v1/withdrawals")
    assert sorted(withdrawn.values())[-2:] == [2, 2]  # a withdrawal postponed, a second one after re-enrolling
    cohort = cohort_of(g.steps)
    assert sum(len(m.periods) > 1 for m in cohort.members.values()) == 6  # re-enrolments (one after the end)
    assert any(len(m.periods) > 1 and len(m.zones) > 1 and m.zones[-1][0] == m.periods[-1][0]
               for m in cohort.members.values())  # one re-enrolled in another zone
    assert any(m.periods[-1][1] and m.periods[-1][1] > cohort.now.date() for m in cohort.members.values())
    deliveries = g.deliveries
    keys = Counter((e["member_id"], e["event_id"]) for e in deliveries)
    first = {}
    for e in deliveries:
        first.setdefault((e["member_id"], e["event_id"]), e)
    conflicts = [e for e in deliveries if e != first[(e["member_id"], e["event_id"])]]
    exact = sum(n for n in keys.values() if n > 1) - len([k for k, n in keys.items() if n > 1]) - len(conflicts)
    assert len(conflicts) > 20 and exact > 50
    by_id = Counter(e["event_id"] for e in first.values())
    assert any(n > 1 for n in by_id.values())  # an id that two members use: two events
    fall_back = [e for e in deliveries if e["occurred_at"].startswith(("2026-10-25T02:30", "2026-11-01T02:30"))]
    assert fall_back  # inside the repeated hour of a DST end
    assert [s[1] for s in g.steps[g.split - 1:g.split]] == ["/v1/admin/clock"]
    for event in deliveries[:300]:
        parse_client_event(event, datetime.fromisoformat("2027-01-01T00:00:00+00:00"))


def test_differences_name_the_field():
    g = changes_cohort(members=9)
    truth = recount(g.steps)
    answers = {q: [dict(r) for r in rows] for q, rows in truth.items()}
    assert differences(truth, answers) == []
    answers["weekly?denominator=enrolled"][1]["logged_in_days"] += 1
    answers["members"].pop()
    answers["daily?denominator=followup"] = None
    diffs = differences(truth, answers)
    assert diffs[0] == "weekly?denominator=enrolled 2 logged_in_days: platform " \
        f"{truth['weekly?denominator=enrolled'][1]['logged_in_days'] + 1}, count " \
        f"{truth['weekly?denominator=enrolled'][1]['logged_in_days']}"
    assert "daily?denominator=followup: no answer" in diffs and any("missing row" in d for d in diffs)


def test_a_platform_that_ignored_a_change_would_be_caught():
    """Each kind of change moves some number of the count: dropping it (or letting the LAST delivery of
    an event id win) gives differences, so the acceptance test sees a platform that ignores it."""
    g = changes_cohort()
    truth = recount(g.steps)
    enrolled: set[str] = set()

    def re_enrolment(step) -> bool:
        if step[1] != "/v1/enrollments":
            return False
        again = step[2]["member_id"] in enrolled
        enrolled.add(step[2]["member_id"])
        return again

    last = {(e["member_id"], e["event_id"]): e for e in g.deliveries}
    variants = {
        "zone changes": [s for s in g.steps if not s[1].endswith("/timezone")],
        "dated settings": [s for s in g.steps if not (s[1].endswith("/settings") and s[3])],
        "re-enrolments": [s for s in g.steps if not re_enrolment(s)],
        "withdrawals": [s for s in g.steps if s[1] != "/v1/withdrawals"],
        "last delivery wins": [(m, p, [last[(e["member_id"], e["event_id"])] for e in b], q) if p == "/v1/events"
                               else (m, p, b, q) for m, p, b, q in g.steps],
    }
    for name, steps in variants.items():
        assert differences(truth, recount(steps)), name


def test_simulator_changes_run_sends_every_request_and_reports_a_wrong_number():
    """`simulate --changes` against a stand-in HTTP transport: every request in order, exit 0 when the
    answers equal the count, 1 when one number differs."""
    import json

    import httpx

    from loadtests.simulate import Platform, run_changes

    kwargs = {"seed": 3, "members": 20, "start": date(2026, 10, 12), "cohort": "c", "prefix": "p"}
    truth = recount(changes_cohort(**kwargs).steps)
    sent, wrong = [], []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "ingest":
            sent.append((request.method, request.url.path, dict(request.url.params)))
            return httpx.Response(202, json={})
        query = str(request.url).split("/v1/cohorts/c/", 1)[1]
        answer = json.loads(json.dumps(truth[query]))
        if wrong and query == "members":
            answer[0]["logged_in_days"] += 1
        return httpx.Response(200, json=answer)

    platform = Platform("http://ingest", "http://metrics", "s" * 48)
    platform.http = httpx.Client(transport=httpx.MockTransport(handler))
    assert run_changes(platform, timeout_s=0, **kwargs) == 0
    steps = changes_cohort(**kwargs).steps
    assert sent == [(m, p, q or {}) for m, p, _, q in steps]
    wrong.append(True)
    assert run_changes(platform, timeout_s=0, **kwargs) == 1
