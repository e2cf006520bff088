"""Symptom alerts from scored QLQ-C30 questionnaires, as pure functions (no I/O, no clock reads).

Definitions (docs/symptom-alerts.md):
* A scale is **flagged** at a timepoint when it is past its threshold for clinical importance
  (functioning scales and QL2 below, symptom scales above; cohort setting `symptom_thresholds`) or has
  worsened by at least `symptom_worsening_points` since the member's previous scored timepoint (a
  drop on functioning scales and QL2, a rise on symptom scales). Missing scores flag nothing.
* An **episode** is an unbroken run of scored timepoints with at least one flagged scale. One alert per
  episode: its id is a uuid5 of member, rule and the episode's first timepoint, so it is raised once
  (not again after a restart, not again after a nurse resolved it while the scores stayed bad).
* The alert covers the judged timepoint (the latest scored one when it is raised) and lists every
  flagged scale with its value.
* **Resolution**: a later scored timepoint with no flagged scale resolves it (`scores_improved`);
  a withdrawal from its date (`withdrawn`) and the end of the cohort's follow-up (`follow_up_ended`)
  too, as for inactivity alerts. Scores count from their `occurred_at` (simulated time) on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from contracts.alerts import ResolveReason, ScaleFinding
from contracts.members import CohortSettings
from contracts.timeline import MemberTimeline, SettingsHistory

from .rules import follow_up_stopped, stable_id

RULE = "symptom_scores"
# Higher is better on these (alert below the threshold, on a drop); higher is worse on the others.
HIGHER_IS_BETTER = frozenset({"QL2", "PF2", "RF2", "EF", "CF", "SF"})


@dataclass(frozen=True)
class Scored:
    """One scored QLQ-C30 timepoint of a member (from `survey.scored`)."""

    timepoint: str
    at: datetime
    scores: Mapping[str, float | None]


@dataclass(frozen=True)
class SymptomFinding:
    member_id: str
    episode_start: Scored
    judged: Scored
    scales: tuple[ScaleFinding, ...]

    @property
    def alert_id(self):
        return stable_id("alert", self.member_id, RULE, self.episode_start.timepoint)


def flagged_scales(current: Scored, previous: Scored | None, settings: CohortSettings) -> tuple[ScaleFinding, ...]:
    """Every scale of `current` past its threshold or worsened since `previous` (one entry per scale:
    the threshold reason first, since it is the stronger signal)."""
    out: list[ScaleFinding] = []
    thresholds = settings.symptom_thresholds.model_dump()
    step = settings.symptom_worsening_points
    for scale, value in current.scores.items():
        if value is None:
            continue
        better_high = scale in HIGHER_IS_BETTER
        limit = thresholds.get(scale)
        if limit is not None and (value < limit if better_high else value > limit):
            out.append(ScaleFinding(scale=scale, value=value, reason="threshold", limit=limit))
            continue
        before = previous.scores.get(scale) if previous is not None else None
        if step is not None and before is not None:
            change = before - value if better_high else value - before
            if change >= step:
                out.append(ScaleFinding(scale=scale, value=value, reason="worsening", limit=step, previous=before))
    return tuple(out)


def known_by(scored: Sequence[Scored], now: datetime) -> list[Scored]:
    """The timepoints scored by `now`, oldest first."""
    return sorted((s for s in scored if s.at <= now), key=lambda s: s.at)


def evaluate(member: MemberTimeline, cohort: SettingsHistory, scored: Sequence[Scored],
             now: datetime) -> SymptomFinding | None:
    """The symptom finding on the member's latest scored timepoint at `now`, or None (nothing flagged,
    the rule switched off, or the member not in follow-up today)."""
    settings = cohort.latest
    if not settings.symptom_alerts or not member.in_follow_up(member.local_day(now), settings.ends_on):
        return None
    known = known_by(scored, now)
    flags = [flagged_scales(s, known[i - 1] if i else None, settings) for i, s in enumerate(known)]
    if not known or not flags[-1]:
        return None
    start = len(known) - 1
    while start > 0 and flags[start - 1]:
        start -= 1
    return SymptomFinding(member.member_id, known[start], known[-1], flags[-1])


def resolution(judged_at: datetime, member: MemberTimeline, cohort: SettingsHistory, scored: Sequence[Scored],
               now: datetime) -> ResolveReason | None:
    """Why an unresolved symptom alert judged on the timepoint scored at `judged_at` resolves now, or None."""
    settings = cohort.latest
    stopped = follow_up_stopped(member, settings, now)
    if stopped is not None:
        return stopped
    known = known_by(scored, now)
    if not known or known[-1].at <= judged_at:
        return None
    previous = known[-2] if len(known) > 1 else None
    return None if flagged_scales(known[-1], previous, settings) else "scores_improved"
