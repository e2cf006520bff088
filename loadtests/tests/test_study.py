"""The study construction (pure): exact counts, attrition, and what the pooled definition can reach."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest

from loadtests.study import (
    HALF_STEP, STUDY_TABLE, best_counts, counts_for, exactly_reachable, feasible_counts, followed_days,
    attrition_design, members_per_day, nearest_count, reachable, read_rates_csv, rounds_to, study_design,
)

# The study's Table 3 as published (He et al., JMIR Cancer 2025), kept in the repository as a CSV
# so `--rates-csv` has a real example and the embedded table is checked against it.
REFERENCE = Path(__file__).resolve().parents[1] / "reference" / "study-weekly-rates.csv"


def test_embedded_table_is_the_reference_csv():
    assert read_rates_csv(REFERENCE) == STUDY_TABLE


def test_rounding_is_exact_and_strict():
    assert not rounds_to(30, 91, "32.9")  # 33.0 %: the brief's example
    assert rounds_to(26, 79, "32.9")  # 32.91 %
    assert feasible_counts("32.9", 91) == []
    assert feasible_counts("50.0", 2) == [1]
    assert not rounds_to(1, 2000, "0.1")  # exactly 0.05: a tie is never counted as reached
    assert counts_for(("62.9", "42.9", "25.3"), 170) == (107, 73, 43)


def test_best_counts_orders_and_minimises():
    mismatches, error, (logged, part, comp) = best_counts(("32.9", "19.0", "6.6"), 79)
    assert comp <= part <= logged <= 79
    assert (logged, part, comp) == (26, 15, 5) and mismatches == 1
    assert error == sum(abs(Fraction(100 * k, 79) - Fraction(t)) for k, t in zip((26, 15, 5), ("32.9", "19.0", "6.6")))


def test_some_published_weeks_are_unreachable_with_30_members():
    """Under the pooled member-day definition (docs/metrics.md) a week of 30 members has ≤ 210 member-days,
    and no denominator ≤ 210 gives 57.6 / 39.0 / 20.1 % at once (exhaustive)."""
    assert exactly_reachable(STUDY_TABLE[2], 210) == []
    assert exactly_reachable(STUDY_TABLE[10], 210) == [200]
    # … and week 15 with 13 members (≤ 91 member-days) is not reachable either
    assert exactly_reachable(STUDY_TABLE[15], 91) == []


def test_study_design_is_30_members_210_member_days_nearest_the_table():
    """Under `enrolled` 26 of the 30 login/participation cells are exact k/210 (all but W13, W14);
    the completion column only in W6 and W14; every other cell is the nearest k/210."""
    design = study_design()
    assert design.followed == [105] * 30  # no withdrawal
    exact = {(w.week, i) for w in design.weeks for i, t in enumerate(STUDY_TABLE[w.week]) if reachable(t, 210)}
    assert {(w, i) for w in range(1, 16) for i in (0, 1)} - exact == {(13, 0), (13, 1), (14, 0), (14, 1)}
    assert {w for w, i in exact if i == 2} == {6, 14}
    for w in design.weeks:
        assert w.member_days == 210 and w.completed <= w.participated <= w.logged_in
        for k, t in zip((w.logged_in, w.participated, w.completed), STUDY_TABLE[w.week]):
            assert k == nearest_count(t, 210)
            assert rounds_to(k, 210, t) == reachable(t, 210)
    assert (design.weeks[0].logged_in, design.weeks[0].participated) == (132, 90)  # 62.857 %, 42.857 %


def test_attrition_design_is_a_real_follow_up_nearest_the_table():
    design = attrition_design()
    per_day = members_per_day(design.weeks)
    assert len(per_day) == 105 and per_day[0] == 30 and per_day[98] == 13  # 13 followed in week 15
    assert all(a >= b for a, b in zip(per_day, per_day[1:]))  # members only leave
    assert followed_days(per_day, 30) == design.followed
    for week in design.weeks:
        assert sum(per_day[7 * (week.week - 1):7 * week.week]) == week.member_days
        assert week.completed <= week.participated <= week.logged_in <= week.member_days
        assert (week.logged_in, week.participated, week.completed) == best_counts(STUDY_TABLE[week.week], week.member_days)[2]
    matched = sum(rounds_to(k, w.member_days, t) for w in design.weeks
                  for k, t in zip((w.logged_in, w.participated, w.completed), STUDY_TABLE[w.week]))
    assert matched == 32  # the optimum of the DP under attrition with 30 → 13 members
    deviation = max(abs(Fraction(100 * k, w.member_days) - Fraction(t)) for w in design.weeks
                    for k, t in zip((w.logged_in, w.participated, w.completed), STUDY_TABLE[w.week]))
    assert deviation < 6 * HALF_STEP  # every rate within 0.3 percentage points of the paper


def test_impossible_follow_up_is_refused():
    with pytest.raises(ValueError):
        attrition_design({1: ("50.0", "40.0", "30.0"), 2: ("50.0", "40.0", "30.0")}, members=2, members_at_last_week=3)
