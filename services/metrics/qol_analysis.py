"""QLQ-C30 change T0 → T2, active vs inactive members — the study's Tables 4 and 5 (pure, scipy).

Input: one row per member (`QolMemberRow`): whether the member was *active* (login rate over the
first 28 follow-up days ≥ the cohort threshold, `contracts.engagement.is_active`) and the member's
T0 and T2 score of each scale (`survey.scored` events pivoted by timepoint; None when missing).

Output per scale (the 15 QLQ-C30 scales, then `summary`):

* **Table 4** — change = T2 − T0 per member; mean (SD, ddof=1) change of active and of inactive
  members, and Student's independent-samples t-test with pooled (equal) variances,
  df = n_active + n_inactive − 2 (the paper's t(20) with 12 + 10 members), two-sided P.
* **Table 5** — active members: mean (SD) at T0 and T2 and the paired t-test T2 vs T0
  (df = n − 1), two-sided P.

A member counts for a scale only with both T0 and T2 scores of that scale (complete cases). A test
that cannot be computed (fewer than 2 members in a group, or no variance) is None.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

from pydantic import BaseModel, Field

from contracts.qol import GroupChange, PairedChange, ScaleComparison, TTest
from contracts.surveys import SCALES

ANALYSED: tuple[str, ...] = (*SCALES, "summary")


class QolMemberRow(BaseModel):
    """One member's input row (what the metrics service reads from ClickHouse)."""

    member_id: str
    active: bool
    t0: Mapping[str, float | None] = Field(description="scale code (or 'summary') → T0 score")
    t2: Mapping[str, float | None] = Field(description="scale code (or 'summary') → T2 score")


def _mean_sd(values: Sequence[float]) -> tuple[float | None, float | None]:
    if not values:
        return None, None
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, None
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def _test(result, df: int) -> TTest | None:
    t, p = float(result.statistic), float(result.pvalue)
    if math.isnan(t) or math.isnan(p) or math.isinf(t):
        return None
    return TTest(t=t, df=df, p=p)


def compare_scale(rows: Iterable[QolMemberRow], scale: str) -> ScaleComparison:
    changes: dict[bool, list[float]] = {True: [], False: []}
    pairs: list[tuple[float, float]] = []
    for row in rows:
        before, after = row.t0.get(scale), row.t2.get(scale)
        if before is None or after is None:
            continue
        changes[row.active].append(after - before)
        if row.active:
            pairs.append((before, after))
    active, inactive = changes[True], changes[False]
    # Imported here, not at the top: scipy.stats is ~half of the metrics service's import time (0.7 s
    # of 1.6 s quiet, `python -X importtime`), paid at every start for a report that is rarely asked.
    from scipy import stats

    between = None
    if len(active) >= 2 and len(inactive) >= 2:
        between = _test(stats.ttest_ind(active, inactive, equal_var=True), len(active) + len(inactive) - 2)
    paired = None
    if len(pairs) >= 2:
        paired = _test(stats.ttest_rel([a for _, a in pairs], [b for b, _ in pairs]), len(pairs) - 1)
    t0_mean, t0_sd = _mean_sd([b for b, _ in pairs])
    t2_mean, t2_sd = _mean_sd([a for _, a in pairs])
    return ScaleComparison(
        scale=scale,
        active=GroupChange(n=len(active), **dict(zip(("mean", "sd"), _mean_sd(active)))),
        inactive=GroupChange(n=len(inactive), **dict(zip(("mean", "sd"), _mean_sd(inactive)))),
        active_vs_inactive=between,
        active_t0_vs_t2=PairedChange(n=len(pairs), t0_mean=t0_mean, t0_sd=t0_sd, t2_mean=t2_mean, t2_sd=t2_sd,
                                     test=paired),
    )


def qol_change(rows: Iterable[QolMemberRow | Mapping], scales: Sequence[str] = ANALYSED) -> list[ScaleComparison]:
    """Tables 4 and 5 for one cohort: one comparison per scale (rows may be dicts of QolMemberRow's shape)."""
    parsed = [r if isinstance(r, QolMemberRow) else QolMemberRow.model_validate(r) for r in rows]
    return [compare_scale(parsed, scale) for scale in scales]
