"""A generated cohort with QLQ-C30 invitations and scores on the real `surveys` topic, shared by the
overview API test and the dashboard's browser test."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from datetime import timedelta
from uuid import uuid4

from contracts.surveys import SCALES, SurveyInvited, SurveyScored
from contracts.topics import SURVEYS
from services.common.kafka import Publisher, Record
from testsupport.cohort import GeneratedCohort, generate, truth_members


@dataclass
class SurveyedCohort:
    g: GeneratedCohort
    invited: dict[str, int]  # timepoint → members invited
    completed: dict[str, int]  # timepoint → invited members with a score
    active: dict[str, bool]


def surveyed_cohort(broker: str, cohort: str, prefix: str, seed: int = 21) -> SurveyedCohort:
    """8 members over 5 weeks (one withdrawal); every member invited to T0, T1 and T2; scores for
    every T0, T1 of the even members, T2 of all but the last; active members' QL2 rises by 10."""
    g = generate(seed=seed, members=8, weeks=5, cohort=cohort, prefix=prefix)
    active = {m["member_id"]: bool(m["active"]) for m in truth_members(g)}
    rng = random.Random(seed)
    records, invited, completed = [], dict.fromkeys(("T0", "T1", "T2"), 0), dict.fromkeys(("T0", "T1", "T2"), 0)
    members = sorted(active)
    for index, member in enumerate(members):
        base = rng.uniform(40, 70)
        for timepoint, answered in (("T0", True), ("T1", index % 2 == 0), ("T2", index < len(members) - 1)):
            invitation = uuid4()
            at = g.now - timedelta(days=3)
            records.append(SurveyInvited(event_id=uuid4(), invitation_id=invitation, member_id=member, cohort=cohort,
                                         instrument="qlq_c30", timepoint=timepoint, occurred_at=at,
                                         expires_at=at + timedelta(days=7)))
            invited[timepoint] += 1
            if answered:
                ql2 = base + (10 if active[member] and timepoint == "T2" else 0) + rng.uniform(-2, 2)
                scores = {s: round(rng.uniform(0, 100), 2) for s in SCALES} | {"QL2": round(ql2, 2)}
                records.append(SurveyScored(event_id=uuid4(), invitation_id=invitation, response_id=uuid4(),
                                            member_id=member, cohort=cohort, instrument="qlq_c30",
                                            timepoint=timepoint, scores=scores, summary=None, items_answered=30,
                                            occurred_at=at + timedelta(hours=2)))
                completed[timepoint] += 1
    publisher = Publisher(broker)
    asyncio.run(publisher.publish([Record(SURVEYS.name, r.member_id.encode(), r.model_dump_json().encode())
                                   for r in records]))
    publisher.close()
    return SurveyedCohort(g, invited, completed, active)


def surveys_sunk(ch, world: SurveyedCohort) -> bool:
    cohort = {"c": world.g.cohort}
    invitations = ch.query("SELECT count() AS n FROM survey_invitations FINAL WHERE cohort = {c:String}", cohort)
    scores = ch.query("SELECT count() AS n FROM survey_scores FINAL WHERE cohort = {c:String}", cohort)
    return (invitations[0]["n"] == sum(world.invited.values())
            and scores[0]["n"] == sum(world.completed.values()))
