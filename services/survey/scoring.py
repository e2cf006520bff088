"""EORTC QLQ-C30 (v3.0) scoring — pure functions, per the EORTC QLQ-C30 Scoring Manual (3rd ed., 2001).

Items 1–28 are answered 1–4 ("not at all" … "very much"), items 29–30 are answered 1–7
("very poor" … "excellent"). For every scale:

1. **Raw score** RS = mean of the scale's *answered* items.
2. **Linear transformation** to 0–100, with `range` = max − min answer of the items (3 or 6):
   * functional scales (PF2, RF2, EF, CF, SF):  S = (1 − (RS − 1) / range) × 100   (high = better)
   * symptom scales / single items (FA, NV, PA, DY, SL, AP, CO, DI, FI):
     S = ((RS − 1) / range) × 100                                                   (high = worse)
   * global health status / QoL (QL2):  S = ((RS − 1) / range) × 100                (high = better)
3. **Missing items** ("half rule"): when at least half of the scale's items are answered, RS is the
   mean of the answered ones; otherwise the scale is missing (None). A single-item scale is missing
   when its item is. (So: 2-item scales need 1 answer, FA 2 of 3, EF 2 of 4, PF2 3 of 5.)

**Summary score** (Giesinger et al., J Clin Epidemiol 2016;69:79-88): the mean of the 13 scales
other than QL2 and FI, with the symptom scales reversed (100 − S) so that high = better. As the
EORTC guidance for it prescribes, it is only computed when all 13 scales are available (each
possibly by the half rule); otherwise it is None.

Scores are returned unrounded; round for display only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

ScaleKind = Literal["global", "functional", "symptom"]


@dataclass(frozen=True)
class Scale:
    code: str
    name: str
    kind: ScaleKind
    items: tuple[int, ...]
    range: int


SCALES: tuple[Scale, ...] = (
    Scale("QL2", "Global health status / QoL", "global", (29, 30), 6),
    Scale("PF2", "Physical functioning", "functional", (1, 2, 3, 4, 5), 3),
    Scale("RF2", "Role functioning", "functional", (6, 7), 3),
    Scale("EF", "Emotional functioning", "functional", (21, 22, 23, 24), 3),
    Scale("CF", "Cognitive functioning", "functional", (20, 25), 3),
    Scale("SF", "Social functioning", "functional", (26, 27), 3),
    Scale("FA", "Fatigue", "symptom", (10, 12, 18), 3),
    Scale("NV", "Nausea and vomiting", "symptom", (14, 15), 3),
    Scale("PA", "Pain", "symptom", (9, 19), 3),
    Scale("DY", "Dyspnoea", "symptom", (8,), 3),
    Scale("SL", "Insomnia", "symptom", (11,), 3),
    Scale("AP", "Appetite loss", "symptom", (13,), 3),
    Scale("CO", "Constipation", "symptom", (16,), 3),
    Scale("DI", "Diarrhoea", "symptom", (17,), 3),
    Scale("FI", "Financial difficulties", "symptom", (28,), 3),
)
BY_CODE = {s.code: s for s in SCALES}
SUMMARY_EXCLUDED = frozenset({"QL2", "FI"})


def item_range(item: int) -> tuple[int, int]:
    """Allowed answers of one item: (1, 4) for items 1-28, (1, 7) for items 29-30."""
    if not 1 <= item <= 30:
        raise ValueError(f"QLQ-C30 has items 1-30, not {item}")
    return (1, 7) if item >= 29 else (1, 4)


def check_answers(answers: Mapping[int, int | None]) -> dict[int, int]:
    """The answered items, validated: unknown item numbers and out-of-range answers raise ValueError
    (an API validates earlier, with per-item messages; this is the scoring function's own guard)."""
    given: dict[int, int] = {}
    for item, answer in answers.items():
        low, high = item_range(item)
        if answer is None:
            continue
        if isinstance(answer, bool) or not isinstance(answer, int) or not low <= answer <= high:
            raise ValueError(f"item {item}: answer must be an integer {low}-{high}, got {answer!r}")
        given[item] = answer
    return given


def raw_score(scale: Scale, answers: Mapping[int, int]) -> float | None:
    """Mean of the answered items, or None when fewer than half of the scale's items are answered."""
    answered = [answers[i] for i in scale.items if answers.get(i) is not None]
    if not answered or len(answered) * 2 < len(scale.items):
        return None
    return sum(answered) / len(answered)


def transform(scale: Scale, raw: float) -> float:
    """Linear transformation of a raw score to 0-100 (functional scales are inverted)."""
    if scale.kind == "functional":
        return (1 - (raw - 1) / scale.range) * 100
    return (raw - 1) / scale.range * 100


def scale_score(scale: Scale, answers: Mapping[int, int]) -> float | None:
    raw = raw_score(scale, answers)
    return None if raw is None else transform(scale, raw)


def summary_score(scores: Mapping[str, float | None]) -> float | None:
    """Giesinger 2016: mean of the 13 scales besides QL2 and FI, symptom scales as 100 − S;
    None unless all 13 are available."""
    parts: list[float] = []
    for scale in SCALES:
        if scale.code in SUMMARY_EXCLUDED:
            continue
        value = scores.get(scale.code)
        if value is None:
            return None
        parts.append(100 - value if scale.kind == "symptom" else value)
    return sum(parts) / len(parts)


@dataclass(frozen=True)
class QlqC30Result:
    scores: dict[str, float | None]  # every scale code → 0-100 or None
    summary: float | None
    items_answered: int


def score(answers: Mapping[int, int | None]) -> QlqC30Result:
    """Score one QLQ-C30 questionnaire: {item number: answer or None} → all 15 scales + summary."""
    given = check_answers(answers)
    scores = {scale.code: scale_score(scale, given) for scale in SCALES}
    return QlqC30Result(scores=scores, summary=summary_score(scores), items_answered=len(given))
