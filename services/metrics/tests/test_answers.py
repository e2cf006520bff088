"""API answers are served from the cache only while the stored data is unchanged (real chDB): any
insert, replay, deletion, merge or clock tick makes the next request compute afresh."""

from __future__ import annotations

import json
from datetime import timedelta

from services.metrics import queries
from services.metrics.answers import UNKNOWN_COHORT, Answers, data_version
from services.metrics.rows import engagement_event_rows, member_rows
from testsupport.cohort import generate, truth_weekly

from .test_aggregate import ch, insert, member_record  # noqa: F401  (the chDB fixture)


def test_an_answer_is_reused_only_while_the_data_is_unchanged(ch):  # noqa: F811
    g = generate(seed=11, members=6, weeks=3, cohort="answers")
    insert(ch, member_rows(member_record({"cohort": g.cohort, "settings": g.settings}, "cohort.configured"), 0, 0))
    for i, body in enumerate(g.enrolments):
        insert(ch, member_rows(member_record(body, "member.enrolled"), 0, i + 1))
    for i, body in enumerate(g.withdrawals):
        insert(ch, member_rows(member_record(body, "member.withdrawn"), 0, 100 + i))
    rows = [r for i, e in enumerate(g.deliveries) for r in engagement_event_rows(json.dumps(e).encode(), 1, i)]
    insert(ch, rows)
    insert(ch, [("clock_ticks", {"event_id": "t", "now": g.now, "kafka_partition": 0, "kafka_offset": 0})])

    computed = []

    def weekly(ch, cohort):
        computed.append(cohort)
        return queries.weekly(ch, cohort)

    answers = Answers(ch)
    first = answers.get(weekly, g.cohort)
    assert [w.model_dump(mode="json") for w in first] == truth_weekly(g)
    assert answers.get(weekly, g.cohort) == first and len(computed) == 1  # unchanged: from the cache

    def changes(action) -> list:
        before, calls = data_version(ch), len(computed)
        action()
        assert data_version(ch) != before
        answer = answers.get(weekly, g.cohort)
        assert len(computed) == calls + 1  # computed afresh …
        assert answer == queries.weekly(ch, g.cohort)  # … and equal to a direct computation
        return answer

    assert changes(lambda: insert(ch, rows[:20])) == first  # a replay: new parts, same numbers
    assert changes(lambda: ch.command("OPTIMIZE TABLE events FINAL")) == first  # a merge
    later = g.now + timedelta(days=2)
    changes(
        lambda: insert(ch, [("clock_ticks", {"event_id": "t2", "now": later, "kafka_partition": 0, "kafka_offset": 1})])
    )
    deleted = "ALTER TABLE events DELETE WHERE kafka_offset % 5 = 0 SETTINGS mutations_sync = 1"
    assert changes(lambda: ch.command(deleted)) != first  # fewer events: the rates moved
    assert answers.get(weekly, "nobody-here") is UNKNOWN_COHORT
