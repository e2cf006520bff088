"""Tables 4/5 analysis checked against an independent, by-hand computation on generated scores."""

import math
import random
import statistics

import pytest
from scipy.stats import t as t_dist

from services.metrics.qol_analysis import ANALYSED, qol_change


def generated_cohort(seed=7, n_active=12, n_inactive=10):
    """Active members improve on QL2/EF, inactive ones worsen (like the study), with noise."""
    rng = random.Random(seed)
    rows = []
    for i in range(n_active + n_inactive):
        active = i < n_active
        t0 = {s: rng.uniform(20, 80) for s in ANALYSED}
        drift = 11.0 if active else -6.5
        t2 = {s: min(100.0, max(0.0, v + drift + rng.gauss(0, 11))) for s, v in t0.items()}
        rows.append({"member_id": f"m-{i}", "active": active, "t0": t0, "t2": t2})
    return rows


def pooled_t(a, b):
    """Student's t with pooled variance, by the textbook formula."""
    na, nb = len(a), len(b)
    sp2 = ((na - 1) * statistics.variance(a) + (nb - 1) * statistics.variance(b)) / (na + nb - 2)
    return (statistics.mean(a) - statistics.mean(b)) / math.sqrt(sp2 * (1 / na + 1 / nb)), na + nb - 2


def paired_t(before, after):
    d = [y - x for x, y in zip(before, after)]
    return statistics.mean(d) / (statistics.stdev(d) / math.sqrt(len(d))), len(d) - 1


def test_independent_and_paired_tests_match_a_hand_computation():
    rows = generated_cohort()
    result = {c.scale: c for c in qol_change(rows)}
    assert list(result) == list(ANALYSED)
    for scale in ("QL2", "EF", "summary"):
        active = [r["t2"][scale] - r["t0"][scale] for r in rows if r["active"]]
        inactive = [r["t2"][scale] - r["t0"][scale] for r in rows if not r["active"]]
        t, df = pooled_t(active, inactive)
        c = result[scale]
        assert (c.active.n, c.inactive.n, c.active_vs_inactive.df) == (12, 10, 20)
        assert c.active.mean == pytest.approx(statistics.mean(active))
        assert c.active.sd == pytest.approx(statistics.stdev(active))
        assert c.inactive.sd == pytest.approx(statistics.stdev(inactive))
        assert c.active_vs_inactive.t == pytest.approx(t)
        assert c.active_vs_inactive.p == pytest.approx(2 * t_dist.sf(abs(t), df))
        tp, dfp = paired_t([r["t0"][scale] for r in rows if r["active"]], [r["t2"][scale] for r in rows if r["active"]])
        assert c.active_t0_vs_t2.test.t == pytest.approx(tp) and c.active_t0_vs_t2.test.df == dfp == 11
        assert c.active_t0_vs_t2.t0_mean == pytest.approx(statistics.mean(r["t0"][scale] for r in rows if r["active"]))
    assert result["QL2"].active_vs_inactive.t > 0  # active members improved more


def test_a_small_hand_worked_example():
    # active changes 10, 20, 30 (mean 20, var 100); inactive 0, -10 (mean -5, var 50)
    # sp² = (2·100 + 1·50)/3 = 83.33; se = sqrt(83.33·(1/3 + 1/2)) = 8.333; t = 25/8.333 = 3.0
    rows = [
        {"member_id": "a1", "active": True, "t0": {"EF": 50}, "t2": {"EF": 60}},
        {"member_id": "a2", "active": True, "t0": {"EF": 40}, "t2": {"EF": 60}},
        {"member_id": "a3", "active": True, "t0": {"EF": 30}, "t2": {"EF": 60}},
        {"member_id": "i1", "active": False, "t0": {"EF": 50}, "t2": {"EF": 50}},
        {"member_id": "i2", "active": False, "t0": {"EF": 50}, "t2": {"EF": 40}},
    ]
    (ef,) = qol_change(rows, scales=("EF",))
    assert ef.active_vs_inactive.t == pytest.approx(3.0) and ef.active_vs_inactive.df == 3
    assert (ef.active.mean, ef.active.sd, ef.inactive.mean) == (20, 10, -5)
    # paired: differences 10, 20, 30 → mean 20, sd 10, t = 20 / (10/√3) = 3.464
    assert ef.active_t0_vs_t2.test.t == pytest.approx(20 / (10 / math.sqrt(3)))
    assert (ef.active_t0_vs_t2.t0_mean, ef.active_t0_vs_t2.t2_mean, ef.active_t0_vs_t2.t2_sd) == (40, 60, 0)


def test_members_missing_a_timepoint_are_left_out_and_small_groups_give_no_test():
    rows = [
        {"member_id": "a1", "active": True, "t0": {"EF": 50}, "t2": {"EF": 60}},
        {"member_id": "a2", "active": True, "t0": {"EF": None}, "t2": {"EF": 60}},
        {"member_id": "i1", "active": False, "t0": {"EF": 50}, "t2": {}},
    ]
    (ef,) = qol_change(rows, scales=("EF",))
    assert (ef.active.n, ef.inactive.n) == (1, 0)
    assert ef.active_vs_inactive is None and ef.active_t0_vs_t2.test is None
    assert ef.active.mean == 10 and ef.active.sd is None and ef.inactive.mean is None
