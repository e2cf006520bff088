"""The survey contracts: per-item validation of answers and the scored event's shape."""

from uuid import uuid4

import pytest
from pydantic import ValidationError

from contracts.surveys import (
    SCALES,
    ExperienceResponse,
    QlqC30Response,
    ScaleScores,
    SurveyPlan,
    SurveyScored,
    item_answers,
)


def errors(model, data):
    with pytest.raises(ValidationError) as info:
        model.model_validate(data)
    return {(tuple(e["loc"]), e["type"]) for e in info.value.errors()}


def test_unanswered_items_are_none():
    answers = item_answers(QlqC30Response.model_validate({"items": {"1": 2, "30": 7}}).items)
    assert answers[1] == 2 and answers[30] == 7 and answers[2] is None and len(answers) == 30


def test_each_bad_item_is_reported_with_its_number():
    found = errors(QlqC30Response, {"items": {"1": 5, "28": 0, "29": 8, "31": 1, "2": "3", "3": True}})
    assert found == {
        (("items", "1"), "less_than_equal"), (("items", "28"), "greater_than_equal"),
        (("items", "29"), "less_than_equal"), (("items", "31"), "extra_forbidden"),
        (("items", "2"), "int_type"), (("items", "3"), "int_type"),
    }


def test_open_answers_are_length_limited_and_closed():
    assert (("answers", "q1"), "string_too_long") in errors(ExperienceResponse, {"answers": {"q1": "x" * 2001}})
    assert (("answers", "q4"), "extra_forbidden") in errors(ExperienceResponse, {"answers": {"q4": "hi"}})
    assert ExperienceResponse.model_validate({"answers": {"q2": "  ok "}}).answers.q2 == "ok"


def test_scored_event_carries_every_scale_and_no_text():
    scored = SurveyScored(
        event_id=uuid4(), invitation_id=uuid4(), member_id="m-1", cohort="c-1", instrument="qlq_c30",
        timepoint="T0", occurred_at="2026-11-02T09:00:00+08:00", response_id=uuid4(),
        scores=ScaleScores(**{s: None for s in SCALES}), summary=None, items_answered=0,
    )
    assert set(scored.scores.model_dump()) == set(SCALES)
    assert "answers" not in SurveyScored.model_fields and "items" not in SurveyScored.model_fields


def test_an_empty_response_is_refused():
    assert (("items",), "value_error") in errors(QlqC30Response, {"items": {}})
    assert (("items",), "value_error") in errors(QlqC30Response, {"items": {"3": None}})
    assert (("answers",), "value_error") in errors(ExperienceResponse, {"answers": {"q1": None}})
    assert (("answers", "q1"), "string_too_short") in errors(ExperienceResponse, {"answers": {"q1": "   "}})


@pytest.mark.parametrize("plan", [
    {"qlq_c30_days": {"T0": 0}}, {"qlq_c30_days": {"T9": 3}}, {"qlq_c30_days": {}},
    {"reminder_after_days": [3, 1]}, {"reminder_after_days": [1, 7]}, {"expire_after_days": 0},
])
def test_a_plan_the_rules_cannot_follow_is_refused(plan):
    with pytest.raises(ValidationError):
        SurveyPlan.model_validate(plan)
