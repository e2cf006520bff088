"""A generated cohort with QLQ-C30 invitations and scores on the real `surveys` topic and nurse alerts on
`alerts`, shared by the overview API test, the dashboard's browser test and the Grafana clinical test."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from datetime import timedelta
from uuid import uuid4

from contracts.alerts import AlertAcknowledged, AlertRaised, AlertResolved
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
    ack_minutes: list[float]  # time to acknowledge of each acknowledged alert
    open_alerts: int  # raised, not resolved
    unacknowledged: int  # raised, neither acknowledged nor resolved


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
    alerts, ack_minutes = alert_steps(g, members)
    publisher = Publisher(broker)
    asyncio.run(publisher.publish([Record(SURVEYS.name, r.member_id.encode(), r.model_dump_json().encode())
                                   for r in records]
                                  + [Record("alerts", a.member_id.encode(), a.model_dump_json().encode())
                                     for a in alerts]))
    publisher.close()
    return SurveyedCohort(g, invited, completed, active, ack_minutes, open_alerts=2, unacknowledged=1)


def alert_steps(g: GeneratedCohort, members: list[str]) -> tuple[list, list[float]]:
    """Five alerts: acknowledged after 30, 90 and 240 minutes (the first two then resolved by hand, the
    third left open), one open and unacknowledged, one resolved automatically without acknowledgement."""
    steps, at = [], g.now - timedelta(days=2)
    ack_after = {0: 30, 1: 90, 2: 240}
    for index, member in enumerate(members[:5]):
        alert = uuid4()
        raised_at = at + timedelta(hours=index)
        steps.append(AlertRaised(event_id=uuid4(), alert_id=alert, member_id=member, cohort=g.cohort,
                                 occurred_at=raised_at, rule="intervention_inactive", since=raised_at.date(),
                                 through=raised_at.date(), missed_days=2, window_days=2, last_login_on=None,
                                 assigned_to="n-1"))
        if index in ack_after:
            steps.append(AlertAcknowledged(event_id=uuid4(), alert_id=alert, member_id=member, cohort=g.cohort,
                                           occurred_at=raised_at + timedelta(minutes=ack_after[index]), by="n-1"))
        if index in (0, 1, 4):
            steps.append(AlertResolved(event_id=uuid4(), alert_id=alert, member_id=member, cohort=g.cohort,
                                       occurred_at=raised_at + timedelta(hours=6),
                                       reason="manual" if index < 2 else "active_again",
                                       by="n-1" if index < 2 else None))
    return steps, [float(m) for m in ack_after.values()]


def surveys_sunk(ch, world: SurveyedCohort) -> bool:
    cohort = {"c": world.g.cohort}
    invitations = ch.query("SELECT count() AS n FROM survey_invitations FINAL WHERE cohort = {c:String}", cohort)
    scores = ch.query("SELECT count() AS n FROM survey_scores FINAL WHERE cohort = {c:String}", cohort)
    alerts = ch.query("SELECT count() AS n FROM alert_events FINAL WHERE cohort = {c:String}", cohort)
    return (invitations[0]["n"] == sum(world.invited.values())
            and scores[0]["n"] == sum(world.completed.values()) and alerts[0]["n"] == 5 + 3 + 3)
