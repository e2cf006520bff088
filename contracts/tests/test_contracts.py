from datetime import date, datetime, timedelta, timezone
from uuid import uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from contracts import generate
from contracts.clock import ClockTick
from contracts.events import Checkin, parse_client_event, parse_recorded_event
from contracts.members import CohortSettings, EnrollmentRequest
from contracts.topics import BY_NAME, CATALOGUE


def event(**overrides):
    base = {
        "event_id": str(uuid4()), "type": "checkin", "member_id": "m-0042",
        "occurred_at": "2026-11-02T08:15:00+08:00", "payload": {"task": "exercise", "steps": 5400},
    }
    return base | overrides


def error_types(data) -> set[str]:
    with pytest.raises(ValidationError) as info:
        parse_client_event(data)
    return {e["type"] for e in info.value.errors()}


def test_schemas_are_generated_from_the_models():
    assert generate.stale_files() == [], "run: python -m contracts.generate"


def test_the_design_example_is_valid():
    parsed = parse_client_event(event())
    assert isinstance(parsed, Checkin) and parsed.payload.steps == 5400


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (event(colour="red"), "extra_forbidden"),
        (event(payload={"task": "exercise", "text": "hello"}), "extra_forbidden"),
        (event(type="purchase"), "union_tag_invalid"),
        (event(occurred_at="2026-11-02T08:15:00"), "timezone_aware"),
        (event(occurred_at="1999-12-31T23:00:00+00:00"), "value_error"),
        (event(member_id="m" * 65), "string_pattern_mismatch"),
        (event(payload={"task": "exercise", "steps": "many"}), "int_parsing"),
        (event(event_id="not-a-uuid"), "uuid_parsing"),
        (event(type="post", payload={"channel": "community", "topic": "x" * 65}), "string_too_long"),
        (event(type="meditation_play", payload={"content_id": "c1", "seconds": -1, "completed": True}),
         "greater_than_equal"),
        (event(received_at="2026-11-02T08:15:00+00:00"), "server_only"),
    ],
)
def test_bad_events_are_refused_with_a_reason(data, expected):
    assert expected in error_types(data)


def test_timestamps_more_than_ten_minutes_ahead_are_refused():
    soon = datetime.now(timezone.utc) + timedelta(minutes=9)
    later = datetime.now(timezone.utc) + timedelta(minutes=11)
    parse_client_event(event(occurred_at=soon.isoformat()))
    assert "value_error" in error_types(event(occurred_at=later.isoformat()))


def test_recorded_events_keep_the_server_receipt_time():
    stamped = parse_client_event(event(), received_at=datetime(2026, 11, 3, tzinfo=timezone.utc))
    again = parse_recorded_event(stamped.model_dump_json())
    assert again == stamped and again.received_at is not None


def test_unknown_time_zone_and_lead_nurse_outside_the_team_are_refused():
    with pytest.raises(ValidationError, match="unknown IANA time zone"):
        EnrollmentRequest(member_id="m-1", cohort="c", timezone="Mars/Olympus", enrolled_on=date(2026, 1, 1))
    with pytest.raises(ValidationError, match="lead_nurse"):
        CohortSettings(nurses=("n-1",), lead_nurse="n-2")


def test_catalogue_topics_are_unique_and_member_topics_co_partitioned():
    assert len(BY_NAME) == len(CATALOGUE)
    member_keyed = [t for t in CATALOGUE if t.key.startswith("member_id")]
    assert len({t.partitions for t in member_keyed} | {BY_NAME["clock.ticks"].partitions}) == 1
    assert BY_NAME["engagement.daily"].kafka_configs()["cleanup.policy"] == "compact"


@given(
    member=st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z"),
    task=st.from_regex(r"\A[a-z][a-z0-9_]{0,31}\Z"),
    steps=st.integers(0, 200_000),
    offset_minutes=st.integers(-14 * 60, 14 * 60),
)
def test_any_valid_checkin_survives_the_topic_round_trip(member, task, steps, offset_minutes):
    tz = timezone(timedelta(minutes=offset_minutes))
    data = event(member_id=member, payload={"task": task, "steps": steps},
                 occurred_at=datetime(2026, 3, 29, 1, 30, tzinfo=tz).isoformat())
    parsed = parse_client_event(data)
    assert parse_recorded_event(parsed.model_dump_json()) == parsed


@given(st.dictionaries(st.text(max_size=10), st.none() | st.integers() | st.text(max_size=10), max_size=6))
def test_arbitrary_objects_never_crash_validation(data):
    try:
        parse_client_event(data)
    except ValidationError:
        pass


def test_clock_tick_requires_an_aware_time():
    with pytest.raises(ValidationError):
        ClockTick(event_id=uuid4(), now=datetime(2026, 1, 1))


@pytest.mark.parametrize("now, ok", [("1999-12-31T23:59:59Z", False), ("2000-01-01T00:00:00Z", True),
                                     ("2099-12-31T23:59:59+00:00", True), ("2100-01-01T00:00:00Z", False),
                                     ("2150-01-01T00:00:00Z", False), ("9999-12-31T23:59:59Z", False)])
def test_the_clock_stays_within_the_dates_every_store_can_hold(now, ok):
    """A tick past ClickHouse's last Date made "today" wrap around and every follow-up day vanish."""
    tick = {"type": "clock.tick", "event_id": str(uuid4()), "now": now}
    if ok:
        assert ClockTick.model_validate(tick).now == datetime.fromisoformat(now)
    else:
        with pytest.raises(ValidationError, match="between 2000-01-01 and 2100-01-01"):
            ClockTick.model_validate(tick)


def test_batch_errors_are_grouped_by_index_and_types_are_strict():
    import orjson

    from contracts.events import client_event_errors

    items = [event(), event(payload={"task": "meal", "steps": "5400"}), event(received_at="2026-11-02T08:15:00Z"),
             event(payload={"task": "meal", "steps": 5400.0})]
    body = orjson.dumps(items)
    errors = client_event_errors(body, items, is_array=True)
    assert sorted(errors) == [1, 2, 3]
    assert errors[1][0]["loc"] == ("checkin", "payload", "steps") and errors[1][0]["type"] == "int_type"
    assert errors[2][0]["type"] == "server_only"
    single = event(type="nope")
    assert client_event_errors(orjson.dumps(single), [single], is_array=False)[0][0]["type"] == "union_tag_invalid"
    assert client_event_errors(orjson.dumps(items[0]), [items[0]], is_array=False) == {}
