"""QLQ-C30 scoring against hand-worked cases (fractions written out so each number can be checked)."""

import pytest

from services.survey.scoring import BY_CODE, SCALES, raw_score, score, summary_score

# One full questionnaire, chosen so every scale has a different, hand-checkable value.
FULL = {
    1: 1, 2: 2, 3: 1, 4: 2, 5: 1,  # PF2
    6: 2, 7: 3,                    # RF2
    8: 3, 9: 2, 10: 1, 11: 4, 12: 2, 13: 1, 14: 1, 15: 2, 16: 2, 17: 3, 18: 4, 19: 4,
    20: 1, 21: 4, 22: 4, 23: 3, 24: 3, 25: 3, 26: 2, 27: 2, 28: 4,
    29: 5, 30: 6,                  # QL2
}

# scale: (raw score by hand, transformed score by hand)
HAND = {
    "PF2": (7 / 5, (1 - (7 / 5 - 1) / 3) * 100),   # (1+2+1+2+1)/5 = 1.4 → 86.67
    "RF2": (2.5, 50.0),                            # (2+3)/2 → (1 - 1.5/3)·100
    "EF": (3.5, 100 / 6),                          # (4+4+3+3)/4 → (1 - 2.5/3)·100 = 16.67
    "CF": (2.0, 200 / 3),                          # items 20, 25: (1+3)/2 → (1 - 1/3)·100
    "SF": (2.0, 200 / 3),                          # (2+2)/2
    "FA": (7 / 3, 400 / 9),                        # items 10, 12, 18: (1+2+4)/3 → (4/3)/3·100 = 44.44
    "NV": (1.5, 50 / 3),                           # (1+2)/2 → 0.5/3·100
    "PA": (3.0, 200 / 3),                          # items 9, 19: (2+4)/2 → 2/3·100
    "DY": (3.0, 200 / 3),                          # item 8
    "SL": (4.0, 100.0),                            # item 11
    "AP": (1.0, 0.0),                              # item 13
    "CO": (2.0, 100 / 3),                          # item 16
    "DI": (3.0, 200 / 3),                          # item 17
    "FI": (4.0, 100.0),                            # item 28
    "QL2": (5.5, 75.0),                            # (5+6)/2 → 4.5/6·100
}
# 13 scales, symptoms reversed, in ninths: 780+450+150+600+600 (functional) + 500+750+300+300+0+900+600+300
HAND_SUMMARY = 6230 / 9 / 13  # 53.25


def test_hand_case_covers_every_scale():
    assert set(HAND) == {s.code for s in SCALES} and len(SCALES) == 15


@pytest.mark.parametrize("code", list(HAND))
def test_every_scale_on_the_hand_worked_questionnaire(code):
    raw, transformed = HAND[code]
    assert raw_score(BY_CODE[code], FULL) == pytest.approx(raw)
    assert score(FULL).scores[code] == pytest.approx(transformed)


def test_summary_score_reverses_symptoms_and_leaves_out_ql2_and_fi():
    result = score(FULL)
    assert result.summary == pytest.approx(HAND_SUMMARY)
    assert result.items_answered == 30
    # QL2 and FI do not move the summary
    assert score(FULL | {28: 1, 29: 1, 30: 1}).summary == pytest.approx(HAND_SUMMARY)


def test_best_and_worst_answers_hit_the_ends_of_every_scale():
    best = score({i: 1 for i in range(1, 29)} | {29: 7, 30: 7})
    worst = score({i: 4 for i in range(1, 29)} | {29: 1, 30: 1})
    for scale in SCALES:
        high_is_good = scale.kind != "symptom"
        assert best.scores[scale.code] == (100.0 if high_is_good else 0.0), scale.code
        assert worst.scores[scale.code] == (0.0 if high_is_good else 100.0), scale.code
    assert best.summary == 100.0 and worst.summary == 0.0


@pytest.mark.parametrize(
    ("code", "answered", "expected"),
    [
        ("PF2", {1: 1, 2: 4, 5: 1}, (1 - 1 / 3) * 100),   # 3 of 5 → mean 2 of the answered
        ("PF2", {1: 1, 2: 4}, None),                      # 2 of 5 < half
        ("EF", {21: 2, 24: 4}, 100 / 3),                  # 2 of 4 = half → mean 3 → (1 - 2/3)·100
        ("EF", {22: 2}, None),                            # 1 of 4
        ("FA", {10: 2, 18: 3}, 50.0),                     # 2 of 3 → mean 2.5 → 1.5/3·100
        ("FA", {12: 4}, None),                            # 1 of 3
        ("QL2", {30: 4}, 50.0),                           # 1 of 2 = half → (4-1)/6·100
        ("RF2", {7: 4}, 0.0),                             # 1 of 2 → (1 - 3/3)·100
        ("CF", {}, None),
        ("DY", {}, None),                                 # single item: missing when its item is
        ("FI", {28: None}, None),                         # explicit null = unanswered
    ],
)
def test_half_items_rule(code, answered, expected):
    result = score(answered).scores[code]
    assert result == (None if expected is None else pytest.approx(expected))


def test_summary_is_missing_when_any_of_its_13_scales_is_missing():
    assert score({k: v for k, v in FULL.items() if k != 13}).summary is None  # AP missing
    assert score({k: v for k, v in FULL.items() if k not in (28, 29, 30)}).summary == pytest.approx(HAND_SUMMARY)
    assert summary_score({}) is None


def test_missing_items_do_not_count_as_answered():
    result = score({k: v for k, v in FULL.items() if k not in (2, 23)})
    assert result.items_answered == 28
    assert result.scores["PF2"] == pytest.approx((1 - (5 / 4 - 1) / 3) * 100)  # (1+1+2+1)/4
    assert result.scores["EF"] == pytest.approx((1 - (11 / 3 - 1) / 3) * 100)  # (4+4+3)/3


@pytest.mark.parametrize(
    "answers",
    [{1: 0}, {1: 5}, {28: 5}, {29: 0}, {30: 8}, {31: 1}, {0: 1}, {3: True}, {4: "2"}, {5: 2.5}],
)
def test_out_of_range_or_invalid_answers_are_refused(answers):
    with pytest.raises(ValueError):
        score(answers)


def test_items_29_and_30_accept_the_seven_point_scale():
    assert score({29: 7, 30: 1}).scores["QL2"] == pytest.approx(50.0)
