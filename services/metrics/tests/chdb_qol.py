"""Run in a subprocess by test_survey_scores.py (chDB: one engine per process): generated QLQ-C30 answers of a
22-member cohort → survey.scored records → survey_score_rows → real chDB table → QOL_SCORES_SQL →
qol_rows → qol_change. Prints the analysed rows and the result as JSON."""

from __future__ import annotations

import json
import random
import sys
from datetime import datetime, timezone
from uuid import uuid4

from contracts.surveys import ScaleScores, SurveyScored
from services.metrics.clickhouse import ChdbClickHouse
from services.metrics.qol_analysis import qol_change
from services.metrics.survey_scores import (
    QOL_SCORES_SQL,
    SURVEY_SCORES_DDL,
    SURVEY_SCORES_SCHEMA,
    qol_rows,
    survey_score_rows,
)
from services.survey.scoring import score


def answers(rng: random.Random, shift: int) -> dict[int, int | None]:
    out = {}
    for item in range(1, 31):
        top = 7 if item >= 29 else 4
        value = min(top, max(1, rng.randint(1, top) + (shift if item >= 29 else -shift)))
        out[item] = None if rng.random() < 0.05 else value
    return out


def scored_record(member: str, cohort: str, timepoint: str, result) -> bytes:
    event = SurveyScored(
        event_id=uuid4(),
        invitation_id=uuid4(),
        member_id=member,
        cohort=cohort,
        instrument="qlq_c30",
        timepoint=timepoint,
        occurred_at=datetime(2026, 11, 2, tzinfo=timezone.utc),
        response_id=uuid4(),
        scores=ScaleScores(**result.scores),
        summary=result.summary,
        items_answered=result.items_answered,
    )
    return event.model_dump_json().encode()


def main(path: str) -> None:
    rng = random.Random(20)
    cohort, active = "c-qol", {}
    records = []
    for i in range(22):
        member = f"m-{i:02d}"
        active[member] = i < 12
        for timepoint, shift in (("T0", 0), ("T2", 1 if active[member] else -1)):
            records.append(scored_record(member, cohort, timepoint, score(answers(rng, shift))))
    records.append(scored_record("m-other", "c-other", "T0", score(answers(rng, 0))))
    ch = ChdbClickHouse(path)
    ch.command(SURVEY_SCORES_DDL)
    rows = [row for offset, value in enumerate(records) for _, row in survey_score_rows(value, 0, offset)]
    ch.insert("survey_scores", {name: [r[name] for r in rows] for name in SURVEY_SCORES_SCHEMA.names},
              SURVEY_SCORES_SCHEMA)
    ch.insert("survey_scores", {name: [r[name] for r in rows[:3]] for name in SURVEY_SCORES_SCHEMA.names},
              SURVEY_SCORES_SCHEMA)  # a re-delivered batch: FINAL de-duplicates it
    fetched = ch.query(QOL_SCORES_SQL, {"cohort": cohort})
    analysed = qol_rows(fetched, active)
    ch.close()
    print(json.dumps({"fetched": len(fetched), "rows": [r.model_dump() for r in analysed],
                      "result": [c.model_dump() for c in qol_change(analysed)]}))


if __name__ == "__main__":
    main(sys.argv[1])
