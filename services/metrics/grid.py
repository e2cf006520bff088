"""The member-days of a cohort as numpy columns: the rules of `days.py`, vectorised (pure: no I/O).

`days.py` is the definition: one `MemberDay` tuple per member-day, folded in Python. Per request that
took ~0.2 s for a 200-member, 15-week cohort (21 k member-days), so the API computes the same
member-days here as arrays — one entry per member-day, rows grouped by member (sorted) and by day —
and each answer with a few array operations. `services/metrics/tests/test_grid.py` proves both give
identical answers on a cohort with zone changes, re-enrolment, effective-dated settings, a future
withdrawal and make-up working days.

Two steps, because the engagement query needs the first one's output:

* `plan(calendar, now)`: from the calendar alone — each member's day range and today, the follow-up
  days, and per calendar day the tasks in force (a bit mask over `vocabulary`) and the day type;
* `fill(plan, facts)`: with what ClickHouse says each member did per local day (`DayFacts`: member
  index, day, bit mask of the tasks done, actions).

Days are integers: days since 1970-01-01 (ClickHouse's `Date`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from fractions import Fraction

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from contracts.engagement import activity, is_working_day_with_make_up, stage
from contracts.metrics_api import Denominator, StageFilter
from contracts.timeline import ZoneHistory, zone

from .days import WINDOW_DAYS, CohortCalendar, MemberDay, follow_up_goes_on, rates

EPOCH = date(1970, 1, 1)
_UNIX = datetime(1970, 1, 1, tzinfo=timezone.utc)
MAX_TASKS = 63  # bits of a task mask (uint64)


def day_index(day: date) -> int:
    return (day - EPOCH).days


def day_of(index: int) -> date:
    return EPOCH + timedelta(days=int(index))


@dataclass(frozen=True)
class DayFacts:
    """Per (member, local day) with at least one event: what was done. Equal-length arrays."""

    member: np.ndarray  # index into `Plan.members`
    day: np.ndarray  # days since 1970-01-01
    tasks: np.ndarray  # uint64 bit mask over `Plan.vocabulary` (other tasks are never in force)
    actions: np.ndarray

    @classmethod
    def of(cls, member, day, tasks, actions) -> DayFacts:
        return cls(np.asarray(member, np.int64), np.asarray(day, np.int64), np.asarray(tasks, np.uint64),
                   np.asarray(actions, np.int64))

    def without(self, members: Sequence[int]) -> DayFacts:
        keep = ~np.isin(self.member, np.asarray(members, np.int64))
        return DayFacts(self.member[keep], self.day[keep], self.tasks[keep], self.actions[keep])

    @staticmethod
    def concat(parts: Sequence[DayFacts]) -> DayFacts:
        return DayFacts(*(np.concatenate([getattr(p, f) for p in parts])
                          for f in ("member", "day", "tasks", "actions")))


@dataclass(frozen=True)
class Plan:
    """What the cohort's calendar and the latest tick decide, before any event is read."""

    calendar: CohortCalendar
    members: list[str]  # sorted; a member's index is its position
    vocabulary: list[str]  # every task in force on some day; bit i of a mask = vocabulary[i]
    first: np.ndarray  # per member: first enrolment day
    today: np.ndarray  # per member: the local day of the latest tick
    length: np.ndarray  # per member: member-days from `first` to min(today, ends_on) (0: none)
    start: np.ndarray  # per member: offset of its first row
    member: np.ndarray  # per row
    day: np.ndarray  # per row
    followed: np.ndarray  # per row: inside a follow-up period
    day_lo: int  # the rule arrays below are indexed by day - day_lo
    rule_tasks: np.ndarray  # per calendar day: mask of the tasks in force
    rule_working: np.ndarray  # per calendar day: a working day

    def index(self) -> dict[str, int]:
        return {m: i for i, m in enumerate(self.members)}


def plan(calendar: CohortCalendar, now) -> Plan:
    members = sorted(calendar.timelines)
    count = len(members)
    first = np.zeros(count, np.int64)
    today = np.zeros(count, np.int64)
    length = np.zeros(count, np.int64)
    ends_on = calendar.settings.latest.ends_on
    periods: list[list[tuple[int, int]]] = []  # per member: follow-up periods as [lo, hi) day indexes
    for i, member_id in enumerate(members):
        t = calendar.timelines[member_id]
        first[i] = day_index(t.follow_up.first_enrolled_on)
        periods.append([(day_index(s), day_index(e) if e is not None else 1 << 40) for s, e in t.follow_up.periods])
        if now is None:  # no tick yet: no member-day at all
            continue
        today[i] = day_index(t.zones.local_day(now))
        last = today[i] if ends_on is None else min(today[i], day_index(ends_on))
        length[i] = max(0, last - first[i] + 1)
    start = np.concatenate([[0], np.cumsum(length)[:-1]]).astype(np.int64) if count else np.zeros(0, np.int64)
    rows = int(length.sum())
    member = np.repeat(np.arange(count, dtype=np.int64), length)
    day = first[member] + (np.arange(rows, dtype=np.int64) - start[member])
    followed = np.zeros(rows, bool)
    for i in range(count):
        lo, n = int(first[i]), int(length[i])
        for p_lo, p_hi in periods[i]:  # a day counts when any period holds it (days.py: `any(...)`)
            a, b = max(p_lo, lo) - lo, min(p_hi, lo + n) - lo
            if a < b:
                followed[start[i] + a:start[i] + b] = True
    day_lo = int(day.min()) if rows else 0
    span = int(day.max()) - day_lo + 1 if rows else 0
    settings = [calendar.settings.settings_on(day_of(day_lo + k)) for k in range(span)]
    vocabulary = sorted({task for s in settings for task in s.tasks})
    if len(vocabulary) > MAX_TASKS:
        raise TooManyTasks(len(vocabulary))
    bit = {task: 1 << i for i, task in enumerate(vocabulary)}
    rule_tasks = np.array([sum(bit[task] for task in set(s.tasks)) for s in settings], np.uint64)
    rule_working = np.array([is_working_day_with_make_up(day_of(day_lo + k), s.holidays, s.working_days)
                             for k, s in enumerate(settings)], bool)
    return Plan(calendar, members, vocabulary, first, today, length, start, member, day, followed,
                day_lo, rule_tasks, rule_working)


class TooManyTasks(ValueError):
    """More distinct tasks than a mask holds: the caller folds with `days.py` instead."""


@dataclass(frozen=True)
class Grid:
    """Every enrolled member-day of the cohort up to each member's today, as columns (`days.MemberDay`)."""

    plan: Plan
    day_number: np.ndarray
    complete: np.ndarray
    logged: np.ndarray
    participated: np.ndarray
    completed: np.ndarray
    actions: np.ndarray
    working: np.ndarray

    @property
    def calendar(self) -> CohortCalendar:
        return self.plan.calendar

    @property
    def intervention_weeks(self) -> int:
        return self.plan.calendar.settings.latest.intervention_weeks

    @property
    def member(self) -> np.ndarray:
        return self.plan.member

    @property
    def day(self) -> np.ndarray:
        return self.plan.day

    @property
    def followed(self) -> np.ndarray:
        return self.plan.followed

    def member_days(self) -> list[MemberDay]:
        """The same list `days.member_days` returns."""
        p = self.plan
        return [MemberDay(p.members[m], day_of(d), int(n), bool(c), bool(f), bool(lg), bool(pa), bool(co), int(a),
                          bool(w))
                for m, d, n, c, f, lg, pa, co, a, w in zip(
                    p.member.tolist(), p.day.tolist(), self.day_number.tolist(), self.complete.tolist(),
                    p.followed.tolist(), self.logged.tolist(), self.participated.tolist(),
                    self.completed.tolist(), self.actions.tolist(), self.working.tolist())]

    # ---- the answers (each equal to the function of the same name in days.py) ---------------------

    def _counted(self, denominator: Denominator) -> np.ndarray:
        return np.ones(len(self.day), bool) if denominator == "enrolled" else self.followed.copy()

    def _rates(self, keys: np.ndarray, rows: np.ndarray, denominator: Denominator) -> list[tuple[int, dict]]:
        """Per distinct key among `rows` (sorted): the Rates fields (days.counts)."""
        present, inverse = np.unique(keys[rows], return_inverse=True)
        size = len(present)
        complete = self.complete[rows]

        def total(flags: np.ndarray) -> list[int]:
            return np.bincount(inverse, weights=flags, minlength=size).astype(np.int64).tolist()

        n = total(complete)
        logged = total(complete & self.logged[rows])
        part = total(complete & self.participated[rows])
        comp = total(complete & self.completed[rows])
        open_days = total(~complete)
        return [(int(k), rates(denominator, open_days[i] > 0, n[i], logged[i], part[i], comp[i]))
                for i, k in enumerate(present.tolist())]

    def weekly(self, denominator: Denominator, intervention_weeks: int) -> list[dict]:
        week = (self.day_number - 1) // 7 + 1
        return [{"week": w, "stage": stage(w, intervention_weeks), **r}
                for w, r in self._rates(week, self._counted(denominator), denominator)]

    def daily(self, denominator: Denominator, start: date, end: date) -> list[dict]:
        rows = self._counted(denominator)
        if start > date.min:
            rows &= self.day >= day_index(start)
        if end < date.max:
            rows &= self.day <= day_index(end)
        return [{"day": day_of(d), **r} for d, r in self._rates(self.day, rows, denominator)]

    def member_summaries(self) -> list[dict]:
        p = self.plan
        count = len(p.members)
        followed = p.followed
        # 1-based rank of each follow-up day among its member's follow-up days (gaps skipped).
        cum = np.concatenate([[0], np.cumsum(followed)])
        rank = cum[1:] - cum[p.start[p.member]]
        window = followed & (rank <= WINDOW_DAYS) & self.complete

        def per_member(flags: np.ndarray) -> list[int]:
            return np.bincount(p.member, weights=flags, minlength=count).astype(np.int64).tolist()

        n, logged = per_member(window), per_member(window & self.logged)
        part, comp = per_member(window & self.participated), per_member(window & self.completed)
        follow_up_days = per_member(followed & self.complete)
        latest = p.calendar.settings.latest
        out = []
        for i, member_id in enumerate(p.members):
            t = p.calendar.timelines[member_id]
            ongoing = follow_up_goes_on(t, day_of(p.today[i]), latest.ends_on)  # no tick: today is 1970-01-01
            state = activity(logged[i], n[i], WINDOW_DAYS, ongoing, latest.active_login_threshold)
            out.append({
                "member_id": member_id, "timezone": t.zones.current, "enrolled_on": t.follow_up.first_enrolled_on,
                "withdrawn_on": t.follow_up.withdrawn_on if t.follow_up.is_withdrawn else None,
                "follow_up_days": follow_up_days[i], "window_days": n[i],
                "logged_in_days": logged[i], "participated_days": part[i], "completed_days": comp[i],
                "login_rate": 100 * logged[i] / n[i] if n[i] else 0.0,
                "participation_rate": 100 * part[i] / n[i] if n[i] else 0.0,
                "completion_rate": 100 * comp[i] / n[i] if n[i] else 0.0,
                "activity": state, "active": None if state in ("pending", "insufficient") else state == "active"})
        return out

    def daytypes(self, denominator: Denominator, stage_name: StageFilter, intervention_weeks: int) -> list[dict]:
        limit = 7 * intervention_weeks
        keep = {"all": np.ones(len(self.day), bool), "intervention": self.day_number <= limit,
                "open-ended": self.day_number > limit}[stage_name]
        counted = self._counted(denominator) & keep
        count = len(self.plan.members)
        out = []
        for label, working in (("working", True), ("non-working", False)):
            group = counted & (self.working == working)
            if not group.any():
                continue
            [(_, group_rates)] = self._rates(np.zeros(len(self.day), np.int64), group, denominator)
            acted = group & self.complete & self.followed
            values = self.actions[acted]
            total, n = int(values.sum()), len(values)
            days_of = np.bincount(self.member[acted], minlength=count)
            sums = np.bincount(self.member[acted], weights=values, minlength=count).astype(np.int64)
            members, mean, sd = mean_and_sd_of_ratios(
                [(int(s), int(d)) for s, d in zip(sums.tolist(), days_of.tolist()) if d])
            out.append({"day_type": label, "stage": stage_name, **group_rates,
                        "actions": total, "action_days": n, "actions_mean": total / n if n else 0.0,
                        "actions_sd": sample_sd_of_sums(n, total, int((values * values).sum())),
                        "members": members, "actions_per_member_mean": mean, "actions_per_member_sd": sd})
        return out


def facts_from_columns(p: Plan, member_ids: pa.Array | pa.ChunkedArray, day: np.ndarray,
                       tasks: pa.Array | pa.ChunkedArray, actions: np.ndarray) -> DayFacts:
    """`DayFacts` from an engagement query's columns: member ids → plan index (-1: not in the plan),
    each row's list of distinct tasks → bit mask over the plan's vocabulary (other tasks dropped)."""
    if len(member_ids) == 0:
        return DayFacts.of([], [], [], [])
    member_ids, tasks = (c.combine_chunks() if isinstance(c, pa.ChunkedArray) else c for c in (member_ids, tasks))
    member = pc.index_in(member_ids, value_set=pa.array(p.members, pa.string())).fill_null(-1).to_numpy()
    flat = pc.list_flatten(tasks)
    row = np.asarray(pc.list_parent_indices(tasks).to_numpy(), np.int64)
    bit = pc.index_in(flat, value_set=pa.array(p.vocabulary, pa.string()))
    known = np.asarray(bit.is_valid().to_numpy(zero_copy_only=False), bool)
    bits = np.left_shift(np.uint64(1), bit.fill_null(0).to_numpy()[known].astype(np.uint64))
    mask = np.zeros(len(member), np.uint64)
    np.bitwise_or.at(mask, row[known], bits)
    return DayFacts.of(member, day, mask, actions)


def per_member_day(facts: DayFacts) -> DayFacts:
    """Facts of single events summed per (member, day): tasks united, actions added."""
    if not len(facts.member):
        return facts
    keys, inverse = np.unique(np.stack([facts.member, facts.day]), axis=1, return_inverse=True)
    inverse = inverse.ravel()
    mask = np.zeros(keys.shape[1], np.uint64)
    np.bitwise_or.at(mask, inverse, facts.tasks)
    actions = np.zeros(keys.shape[1], np.int64)
    np.add.at(actions, inverse, facts.actions)
    return DayFacts(keys[0], keys[1], mask, actions)


def zone_days(history: ZoneHistory, at_ms: np.ndarray, dates: dict[str, np.ndarray]) -> np.ndarray:
    """`ZoneHistory.local_day` of many instants (milliseconds since 1970, UTC), given each instant's
    calendar date in every zone of the history (`dates[zone]`, days since 1970): each instant falls in
    the last change whose new-zone midnight it has reached (else the first zone), and takes that zone's
    date, at most the next change's `effective_on` - 1."""
    changes = history.changes
    segment = np.full(len(at_ms), -1, np.int64)
    for i in range(len(changes) - 1, -1, -1):  # the later change wins, as ZoneHistory._segment
        effective_on, name = changes[i]
        start = (datetime.combine(effective_on, time(0), tzinfo=zone(name)) - _UNIX) // timedelta(milliseconds=1)
        segment[(segment == -1) & (at_ms >= start)] = i
    names = [history.first, *(name for _, name in changes)]
    out = np.zeros(len(at_ms), np.int64)
    for i in range(-1, len(changes)):
        chosen = segment == i
        day = dates[names[i + 1]][chosen]
        if i + 1 < len(changes):
            day = np.minimum(day, day_index(changes[i + 1][0]) - 1)
        out[chosen] = day
    return out


def fill(p: Plan, facts: DayFacts) -> Grid:
    """The grid of `p` with the engagement `facts` (rows outside a member's days are ignored)."""
    rows = len(p.day)
    known = (facts.member >= 0) & (facts.member < len(p.members))  # -1: not a member of the plan
    facts = DayFacts(facts.member[known], facts.day[known], facts.tasks[known], facts.actions[known])
    offset = facts.day - p.first[facts.member]
    inside = (offset >= 0) & (offset < p.length[facts.member])
    at = p.start[facts.member[inside]] + offset[inside]
    present = np.zeros(rows, bool)
    done = np.zeros(rows, np.uint64)
    actions = np.zeros(rows, np.int64)
    present[at], done[at], actions[at] = True, facts.tasks[inside], facts.actions[inside]
    followed = p.followed
    logged = present & followed  # outside follow-up nothing counts as done
    in_force = p.rule_tasks[p.day - p.day_lo] if rows else np.zeros(0, np.uint64)
    return Grid(
        p, day_number=p.day - p.first[p.member] + 1, complete=p.day < p.today[p.member], logged=logged,
        participated=logged & ((done & in_force) != 0), completed=logged & ((done & in_force) == in_force),
        actions=np.where(followed, actions, 0),
        working=p.rule_working[p.day - p.day_lo] if rows else np.zeros(0, bool))


def mean_and_sd_of_ratios(ratios: list[tuple[int, int]]) -> tuple[int, float, float | None]:
    """How many, the mean and the sample SD of the exact fractions a/b: the floats `days.daytypes`
    gets from `Fraction`s and `statistics.stdev` (exact values, correctly rounded), computed over
    integers scaled to one common denominator instead of adding hundreds of Fractions."""
    k = len(ratios)
    if not k:
        return 0, 0.0, None
    scale = math.lcm(*{b for _, b in ratios})
    scaled = [a * (scale // b) for a, b in ratios]  # each ratio × scale, an integer
    total, total_sq = sum(scaled), sum(x * x for x in scaled)
    mean = float(Fraction(total, k * scale))
    if k < 2:
        return k, mean, None
    variance = Fraction(k * total_sq - total * total, k * (k - 1) * scale * scale)
    return k, mean, _sqrt_correctly_rounded(variance.numerator, variance.denominator)


def sample_sd_of_sums(n: int, total: int, total_sq: int) -> float | None:
    """Sample SD (ddof=1) of n integers from their sum and sum of squares; the float
    `statistics.stdev` returns for them (exact variance, correctly rounded square root); None below 2."""
    if n < 2:
        return None
    variance = Fraction(n * total_sq - total * total, n * (n - 1))
    return _sqrt_correctly_rounded(variance.numerator, variance.denominator)


def _sqrt_correctly_rounded(num: int, den: int) -> float:
    """√(num/den) rounded to the nearest float: an integer square root with ≥ 54 significant bits,
    rounded to odd (the lowest bit records an inexact result), so that the final division, which
    rounds correctly, cannot round twice."""
    if num == 0:
        return 0.0
    shift, _ = divmod(num.bit_length() - den.bit_length() - 109, 2)
    if shift >= 0:
        root = _isqrt_to_odd(num, den << 2 * shift) << shift
        return root / 1
    return _isqrt_to_odd(num << -2 * shift, den) / (1 << -shift)


def _isqrt_to_odd(num: int, den: int) -> int:
    root = math.isqrt(num // den)
    return root | (root * root * den != num)
