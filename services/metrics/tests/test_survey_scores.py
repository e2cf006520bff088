"""The survey half of the metrics sink: only scores reach ClickHouse, and the Tables 4/5 analysis
read back from the real chDB engine reproduces an independently computed t-statistic."""

import json
import math
import statistics
import subprocess
import sys
from datetime import datetime, timezone
from uuid import uuid4

import pytest

from contracts.surveys import SCALES, RecordedExperienceAnswers, SurveyInvited, SurveyReminded, SurveyResponded
from services.metrics.survey_scores import InvalidSurveyRecord, survey_score_rows


def test_only_scores_become_rows_never_free_text():
    responded = SurveyResponded(
        event_id=uuid4(), invitation_id=uuid4(), member_id="m-1", cohort="c-1", instrument="experience",
        timepoint="post", occurred_at=datetime(2026, 11, 2, tzinfo=timezone.utc), response_id=uuid4(),
        answers=RecordedExperienceAnswers(q1='I liked the "survey.scored" meditation'))
    assert survey_score_rows(responded.model_dump_json().encode(), 0, 1) == []
    with pytest.raises(InvalidSurveyRecord):
        survey_score_rows(b'{"type": "survey.scored", "member_id": "m-1"}', 0, 2)


def test_invitations_become_rows_with_dates_only():
    at = datetime(2026, 11, 2, 9, tzinfo=timezone.utc)
    step = dict(event_id=uuid4(), invitation_id=uuid4(), member_id="m-1", cohort="c-1", instrument="qlq_c30",
                timepoint="T1", occurred_at=at)
    ((table, row),) = survey_score_rows(SurveyInvited(**step, expires_at=at.replace(day=9)).model_dump_json().encode(),
                                        3, 7)
    assert table == "survey_invitations"
    assert row == {"invitation_id": str(step["invitation_id"]), "member_id": "m-1", "cohort": "c-1",
                   "instrument": "qlq_c30", "timepoint": "T1", "invited_at": at, "expires_at": at.replace(day=9),
                   "kafka_partition": 3, "kafka_offset": 7}
    assert survey_score_rows(SurveyReminded(**step, reminder=1).model_dump_json().encode(), 0, 8) == []
    responded = SurveyResponded(**(step | {"instrument": "experience", "timepoint": "post"}), response_id=uuid4(),
                                answers=RecordedExperienceAnswers(q1='a "survey.invited" story'))
    assert survey_score_rows(responded.model_dump_json().encode(), 0, 9) == []
    with pytest.raises(InvalidSurveyRecord):
        survey_score_rows(b'{"type": "survey.invited", "member_id": "m-1"}', 0, 10)


@pytest.mark.clickhouse
def test_qol_analysis_from_chdb_matches_a_hand_computed_t(tmp_path):
    out = subprocess.run([sys.executable, "-m", "services.metrics.tests.chdb_qol", str(tmp_path / "chdb")],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    data = json.loads(out.stdout.strip().splitlines()[-1])
    assert data["fetched"] == 44  # 22 members × T0/T2; the other cohort and the re-delivered rows are not there
    rows, result = data["rows"], {c["scale"]: c for c in data["result"]}
    assert len(rows) == 22 and sum(r["active"] for r in rows) == 12
    for scale in ("QL2", "EF", "summary"):
        change = {True: [], False: []}
        for r in rows:
            if r["t0"][scale] is not None and r["t2"][scale] is not None:
                change[r["active"]].append(r["t2"][scale] - r["t0"][scale])
        a, b = change[True], change[False]
        pooled = ((len(a) - 1) * statistics.variance(a) + (len(b) - 1) * statistics.variance(b)) / (len(a) + len(b) - 2)
        t = (statistics.mean(a) - statistics.mean(b)) / math.sqrt(pooled * (1 / len(a) + 1 / len(b)))
        assert result[scale]["active_vs_inactive"]["t"] == pytest.approx(t)
        assert result[scale]["active_vs_inactive"]["df"] == len(a) + len(b) - 2
    assert result["QL2"]["active_vs_inactive"]["t"] > 0  # active members' global health went up
    assert set(result) == {*SCALES, "summary"}
