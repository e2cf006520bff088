"""The study's cohort as exact integer counts (pure functions, no I/O).

The paper (He et al., JMIR Cancer 2025, Table 3) publishes weekly login / participation / completion
rates of 30 members over 15 study weeks, rounded to 0.1 %, with 13 members still followed at week 15.
A rate is member-days with the property ÷ member-days in follow-up, so the simulator must pick, for
every week, a denominator D (member-days in follow-up) and integer counts C ≤ P ≤ L ≤ D whose rates
round to the published ones. Not every D works (32.9 % of 13 × 7 = 91 member-days is not reachable:
30/91 = 33.0 %), so:

1. `feasible_counts` lists the integers k with 100·k/D within 0.05 of the target (exact fractions,
   strict, so no rounding tie can flip);
2. `choose_denominators` searches (dynamic programming) the member-days per week that a real follow-up
   can produce — members only leave (withdrawal), 30 on day 1, 13 on the first day of week 15 — for
   which all three counts exist, as close as possible to a smooth attrition curve;
3. `followed_days` turns the weekly member-days into each member's number of follow-up days
   (the withdrawal day is the day after), and `study_week_counts` bundles everything.

That attrition search is kept for analysis: the table fits the `enrolled` denominator best
(docs/metrics.md, "Reproducing the study"). `study_design()` — what `--study` replays — is
`enrolled_design`: 30 members followed all 15 weeks, 210 member-days every week, each cell the count
k/210 that rounds to the published rate where one exists (`reachable`) and the nearest k elsewhere.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from pathlib import Path

DAYS_PER_WEEK = 7
HALF_STEP = Fraction(1, 20)  # rounding to 0.1 %: within ±0.05 percentage points

# Table 3 of the paper (docs/metrics.md, "The study's Table 3"): week → (login, participation, completion) %.
STUDY_TABLE: dict[int, tuple[str, str, str]] = {
    1: ("62.9", "42.9", "25.3"), 2: ("57.6", "39.0", "20.1"), 3: ("62.9", "47.6", "24.5"),
    4: ("58.1", "39.5", "19.6"), 5: ("59.5", "46.7", "24.5"), 6: ("46.2", "36.7", "18.6"),
    7: ("43.8", "33.3", "17.7"), 8: ("38.1", "32.4", "16.1"), 9: ("28.1", "21.4", "12.8"),
    10: ("30.5", "20.0", "12.0"), 11: ("30.0", "21.9", "13.6"), 12: ("32.4", "25.2", "14.7"),
    13: ("26.8", "18.7", "10.2"), 14: ("23.6", "14.2", "4.8"), 15: ("32.9", "19.0", "6.6"),
}
STUDY_MEMBERS = 30
STUDY_MEMBERS_AT_LAST_WEEK = 13


def read_rates_csv(path: Path) -> dict[int, tuple[str, str, str]]:
    """A weekly table in the reference CSV's shape.

    Columns: week, login_rate_pct, participation_rate_pct, completion_rate_pct.
    """
    with open(path, newline="") as f:
        return {int(r["week"]): (r["login_rate_pct"], r["participation_rate_pct"], r["completion_rate_pct"])
                for r in csv.DictReader(f)}


def rounds_to(count: int, member_days: int, target_pct: str) -> bool:
    """100·count/member_days rounds to `target_pct` at 0.1 (strictly inside the rounding interval)."""
    return member_days > 0 and abs(Fraction(100 * count, member_days) - Fraction(target_pct)) < HALF_STEP


def feasible_counts(target_pct: str, member_days: int) -> list[int]:
    """Every integer count whose rate over `member_days` rounds to `target_pct`."""
    centre = Fraction(target_pct) * member_days / 100
    return [k for k in range(max(0, int(centre) - 1), min(member_days, int(centre) + 2) + 1)
            if rounds_to(k, member_days, target_pct)]


@dataclass(frozen=True)
class WeekCounts:
    week: int
    member_days: int
    logged_in: int
    participated: int
    completed: int
    first_day_members: int  # members in follow-up on the week's first day
    last_day_members: int  # … and on its last day

    def rates(self) -> tuple[float, float, float]:
        d = self.member_days
        return (100 * self.logged_in / d, 100 * self.participated / d, 100 * self.completed / d)


def best_counts(targets: tuple[str, str, str], member_days: int) -> tuple[int, Fraction, tuple[int, int, int]]:
    """(cells that do not round to their target, total |rate − target| in percentage points, (L, P, C)) —
    the best integer counts with C ≤ P ≤ L ≤ D over `member_days`: fewest mismatches, then least error."""
    # Each candidate count's error is computed once (exact Fractions), not once per combination: the
    # study design calls this for every week and denominator (CI time, docs/testing.md).
    errors_of: list[dict[int, Fraction]] = []
    for t in targets:
        target = Fraction(t)
        centre = int(target * member_days / 100)
        errors_of.append({k: abs(Fraction(100 * k, member_days) - target)
                          for k in range(max(0, centre - 1), min(member_days, centre + 2) + 1)})
    best = None
    for logged, e_logged in errors_of[0].items():
        for part, e_part in errors_of[1].items():
            for comp, e_comp in errors_of[2].items():
                if not comp <= part <= logged <= member_days:
                    continue
                errors = (e_logged, e_part, e_comp)
                key = (sum(e >= HALF_STEP for e in errors), sum(errors), (logged, part, comp))
                if best is None or key[:2] < best[:2]:
                    best = key
    if best is None:
        raise ValueError(f"no ordered counts over {member_days} member-days")
    return best


def counts_for(targets: tuple[str, str, str], member_days: int) -> tuple[int, int, int] | None:
    """(L, P, C) whose three rates all round to the targets, or None when no such counts exist."""
    mismatches, _, counts = best_counts(targets, member_days)
    return counts if mismatches == 0 else None


def exactly_reachable(targets: tuple[str, str, str], max_member_days: int) -> list[int]:
    """Every denominator ≤ max_member_days over which all three targets are reachable at once."""
    return [d for d in range(1, max_member_days + 1)
            if all(feasible_counts(t, d) for t in targets) and counts_for(targets, d) is not None]


def choose_denominators(table: dict[int, tuple[str, str, str]], members: int = STUDY_MEMBERS,
                        members_at_last_week: int = STUDY_MEMBERS_AT_LAST_WEEK) -> list[WeekCounts]:
    """Member-days per week that an attrition-only follow-up can produce, with the counts nearest the table.

    Within a week whose first day has `a` members and last day `b` (a ≥ b, b ≥ next week's a), the
    member-days can be any integer in [a + 6b, 6a + b]. Dynamic programming over weeks (state `b`)
    minimises, in this order: table cells that do not round to the published value, total deviation
    in percentage points, distance from a straight attrition line `members` → `members_at_last_week`.
    With at most 30 × 7 member-days a week several published weeks are not exactly reachable under
    the pooled member-day definition (see `exactly_reachable`); those keep a deviation below 0.2 pp."""
    weeks = sorted(table)
    if weeks != list(range(1, len(weeks) + 1)):
        raise ValueError("weeks must be 1..n")
    n = len(weeks)
    slope = (members - members_at_last_week) / max(1, n - 1)
    ideal = {w: DAYS_PER_WEEK * (members - slope * (w - 1)) for w in weeks}
    scored = {w: {d: best_counts(table[w], d) for d in range(1, members * DAYS_PER_WEEK + 1)} for w in weeks}

    def week_cost(w: int, a: int, b: int) -> tuple[tuple[int, Fraction, float], int] | None:
        options = [
            (scored[w][d][0], scored[w][d][1], abs(d - ideal[w]), d) for d in range(max(1, a + 6 * b), 6 * a + b + 1)
        ]
        if not options:
            return None
        m, e, dist, d = min(options)
        return (m, e, dist), d

    cache: dict[tuple[int, int, int], tuple[tuple[int, Fraction, float], int] | None] = {}
    Cost = tuple[int, Fraction, float]
    best: dict[int, tuple[Cost, list[tuple[int, int, int]]]] = {members: ((0, Fraction(0), 0.0), [])}
    for w in weeks:
        nxt: dict[int, tuple[Cost, list[tuple[int, int, int]]]] = {}
        for prev_b, (cost, path) in best.items():
            if w == 1:
                a_options = [members]
            elif w == n:
                a_options = [members_at_last_week] if members_at_last_week <= prev_b else []
            else:
                a_options = range(prev_b, 0, -1)
            for a in a_options:
                for b in range(a, 0 if w < n else -1, -1):
                    key = (w, a, b)
                    if key not in cache:
                        cache[key] = week_cost(w, a, b)
                    found = cache[key]
                    if found is None:
                        continue
                    (m, e, dist), d = found
                    total = (cost[0] + m, cost[1] + e, cost[2] + dist)
                    if b not in nxt or total < nxt[b][0]:
                        nxt[b] = (total, path + [(a, b, d)])
        best = nxt
        if not best:
            raise ValueError(f"no attrition-only follow-up reaches week {w}")
    _, path = min(best.values(), key=lambda x: x[0])
    out = []
    for w, (a, b, d) in zip(weeks, path):
        logged, part, comp = scored[w][d][2]
        out.append(WeekCounts(w, d, logged, part, comp, a, b))
    return out


def members_per_day(weeks: list[WeekCounts]) -> list[int]:
    """Members in follow-up on each follow-up day 1…7n (non-increasing; sums per week = member_days)."""
    out: list[int] = []
    for wk in weeks:
        a, b = wk.first_day_members, wk.last_day_members
        extra = wk.member_days - a - 6 * b  # spread over the 5 middle days, front-loaded (never increases)
        if not 0 <= extra <= 5 * (a - b):
            raise ValueError(f"week {wk.week}: {wk.member_days} member-days impossible between {a} and {b} members")
        middle = []
        for _ in range(5):
            add = min(a - b, extra)
            middle.append(b + add)
            extra -= add
        out += [a, *middle, b]
    return out


def followed_days(per_day: list[int], members: int) -> list[int]:
    """Follow-up days of each member (member i stays while more than i members are followed)."""
    return [sum(1 for n in per_day if n > i) for i in range(members)]


@dataclass(frozen=True)
class StudyDesign:
    weeks: list[WeekCounts]
    followed: list[int]  # per member: number of follow-up days (the withdrawal is the next day)


def nearest_count(target_pct: str, member_days: int) -> int:
    """The count k whose rate 100·k/member_days is nearest the target (the lower one on a tie)."""
    return min(range(member_days + 1), key=lambda k: (abs(Fraction(100 * k, member_days) - Fraction(target_pct)), k))


def reachable(target_pct: str, member_days: int) -> bool:
    """Some count over `member_days` rounds to the target at 0.1 %."""
    return bool(feasible_counts(target_pct, member_days))


def enrolled_design(table: dict[int, tuple[str, str, str]] | None = None, members: int = STUDY_MEMBERS) -> StudyDesign:
    """Every member followed every week (no withdrawal): `members` × 7 member-days a week under both
    denominators; each cell's count is the nearest (exact wherever reachable)."""
    table = table or STUDY_TABLE
    days = members * DAYS_PER_WEEK
    weeks = []
    for week in sorted(table):
        logged, part, comp = (nearest_count(t, days) for t in table[week])
        if not comp <= part <= logged:
            raise ValueError(f"week {week}: the nearest counts are not ordered ({logged}, {part}, {comp})")
        weeks.append(WeekCounts(week, days, logged, part, comp, members, members))
    return StudyDesign(weeks, [DAYS_PER_WEEK * len(weeks)] * members)


def study_design(table: dict[int, tuple[str, str, str]] | None = None, members: int = STUDY_MEMBERS) -> StudyDesign:
    """What `--study` replays: `enrolled_design`."""
    return enrolled_design(table, members)


def attrition_design(table: dict[int, tuple[str, str, str]] | None = None, members: int = STUDY_MEMBERS,
                     members_at_last_week: int = STUDY_MEMBERS_AT_LAST_WEEK) -> StudyDesign:
    """The closest attrition-only follow-up under the `followup` denominator (analysis only)."""
    return _design(tuple(sorted((table or STUDY_TABLE).items())), members, members_at_last_week)


@lru_cache(maxsize=8)
def _design(table: tuple, members: int, members_at_last_week: int) -> StudyDesign:
    weeks = choose_denominators(dict(table), members, members_at_last_week)
    return StudyDesign(weeks, followed_days(members_per_day(weeks), members))
