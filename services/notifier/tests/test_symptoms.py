"""The symptom rule (QLQ-C30 thresholds and worsening), pure: no broker."""

from datetime import date, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from contracts.members import CohortSettings, SymptomThresholds
from contracts.surveys import SCALES
from services.notifier import symptoms
from services.notifier.rules import history, member

ENROLLED = date(2026, 9, 1)
MEMBER = member("m-1", "c-1", "Europe/Vienna", ENROLLED)
DEFAULT = history(CohortSettings())
# Every scale comfortably within the default thresholds.
FINE = {"QL2": 75.0, "PF2": 93.3, "RF2": 100.0, "EF": 91.7, "CF": 100.0, "SF": 100.0, "FA": 11.1, "NV": 0.0,
        "PA": 0.0, "DY": 0.0, "SL": 0.0, "AP": 0.0, "CO": 0.0, "DI": 0.0, "FI": 0.0}


def scored(timepoint: str, day: int, **changes: float | None) -> symptoms.Scored:
    at = datetime.combine(ENROLLED + timedelta(days=day - 1), datetime.min.time(), timezone.utc) + timedelta(hours=10)
    return symptoms.Scored(timepoint, at, {**FINE, **changes})


def after(s: symptoms.Scored) -> datetime:
    return s.at + timedelta(hours=1)


def test_defaults_are_the_published_thresholds_for_every_scale_but_ql2():
    t = SymptomThresholds()
    assert set(t.model_dump()) == set(SCALES) and t.QL2 is None
    assert (t.PF2, t.RF2, t.EF, t.CF, t.SF) == (83, 58, 71, 75, 58)
    assert (t.FA, t.NV, t.PA, t.DY, t.SL, t.AP, t.CO, t.DI, t.FI) == (39, 8, 25, 17, 50, 50, 50, 17, 17)
    with pytest.raises(ValidationError, match="less than or equal to 100"):
        SymptomThresholds(PA=120)


def test_functioning_below_and_symptoms_above_the_threshold_are_flagged_with_values():
    s = scored("T0", 1, PF2=80.0, FA=44.4, PA=25.0, EF=71.0)  # PA and EF exactly at the threshold: not past it
    found = symptoms.evaluate(MEMBER, DEFAULT, [s], after(s))
    assert found is not None and found.judged == s and found.episode_start == s
    assert [(f.scale, f.value, f.reason, f.limit) for f in found.scales] == [
        ("PF2", 80.0, "threshold", 83), ("FA", 44.4, "threshold", 39)]
    assert symptoms.evaluate(MEMBER, DEFAULT, [scored("T0", 1)], after(s)) is None


def test_worsening_since_the_previous_timepoint_is_a_setting():
    t0, t1 = scored("T0", 1), scored("T1", 14, PF2=83.3, QL2=58.3, FA=33.3, PA=16.7)  # all within thresholds
    found = symptoms.evaluate(MEMBER, DEFAULT, [t0, t1], after(t1))
    assert [(f.scale, f.reason, f.previous) for f in found.scales] == [
        ("QL2", "worsening", 75.0), ("PF2", "worsening", 93.3), ("FA", "worsening", 11.1), ("PA", "worsening", 0.0)]
    assert found.episode_start == t1  # T0 flagged nothing: the episode starts at T1
    off = history(CohortSettings(symptom_worsening_points=None))
    assert symptoms.evaluate(MEMBER, off, [t0, t1], after(t1)) is None
    assert symptoms.evaluate(MEMBER, history(CohortSettings(symptom_alerts=False)), [scored("T0", 1, PA=90.0)],
                             after(t1)) is None


def test_one_episode_while_timepoints_stay_flagged_and_a_better_later_score_resolves():
    t0, t1, t2 = scored("T0", 1, PA=50.0), scored("T1", 14, PA=33.3), scored("T2", 28, PA=16.7)
    first = symptoms.evaluate(MEMBER, DEFAULT, [t0], after(t0))
    again = symptoms.evaluate(MEMBER, DEFAULT, [t0, t1], after(t1))
    assert again.alert_id == first.alert_id and again.judged == t1  # same episode, same alert id
    assert symptoms.resolution(t0.at, MEMBER, DEFAULT, [t0, t1], after(t1)) is None  # still above 25
    assert symptoms.resolution(t0.at, MEMBER, DEFAULT, [t0, t1, t2], after(t2)) == "scores_improved"
    assert symptoms.resolution(t0.at, MEMBER, DEFAULT, [t0, t1, t2], t2.at - timedelta(1)) is None  # not yet scored
    assert symptoms.evaluate(MEMBER, DEFAULT, [t0, t1, t2], after(t2)) is None
    t3 = scored("post", 42, PA=66.7)  # a new episode after a good timepoint: a new alert
    assert symptoms.evaluate(MEMBER, DEFAULT, [t0, t1, t2, t3], after(t3)).alert_id != first.alert_id


def test_missing_scores_flag_nothing_and_withdrawal_resolves():
    s = scored("T0", 1, PF2=None, FA=None)
    assert symptoms.evaluate(MEMBER, DEFAULT, [s], after(s)) is None
    withdrawn = member("m-1", "c-1", "Europe/Vienna", ENROLLED, withdrawn_on=ENROLLED + timedelta(days=3))
    bad = scored("T0", 1, PA=50.0)
    assert symptoms.resolution(bad.at, withdrawn, DEFAULT, [bad], after(bad) + timedelta(days=5)) == "withdrawn"
    assert symptoms.evaluate(withdrawn, DEFAULT, [bad], after(bad) + timedelta(days=5)) is None
