"""Metrics query latency at 10 million events in chDB.

`python -m bench.metrics_query [events]` fills a fresh chDB directory (Arrow batches) with synthetic
de-duplicated raw events — 50 cohorts × 200 members (3 time zones), 105 follow-up days, the events
spread over the members' days — plus a clock tick and every cohort's `members` records as the sink
stores them, with real life in them: settings that change with an effective date in week 8 (tasks,
a holiday, a make-up working Saturday), per cohort 4 members who move to another zone, 2 who withdraw
and re-enrol in another zone, 2 with a withdrawal dated after the tick. It refreshes the member_days
rollup, then times (median / p95 of 20 runs, warm):
  * every API answer (weekly and daily under both denominators, members, daytypes, summary) for one
    cohort as served (`answers.Answers.get`): computed — the data-version read, the cohort check,
    the calendar, the aggregate check and the member-day query, folded by `grid.py` — as after every
    new write; and from the answer cache while the data is unchanged (the data-version read included);
  * the same forced onto the raw-event definition (and the answers compared: they must be equal);
  * the dashboard's rollup query (Grafana Table 3 panel) for one cohort.
Prints a table and writes bench/out/metrics_query.md.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa
from rich.console import Console
from rich.table import Table

from contracts.members import (
    CohortConfigured,
    CohortSettings,
    MemberEnrolled,
    MemberTimezoneChanged,
    MemberWithdrawn,
)
from contracts.metrics_api import WeekRates
from services.metrics import days, queries
from services.metrics.answers import Answers
from services.metrics.clickhouse import connect
from services.metrics.rows import member_rows
from services.metrics.schema import TABLE_SCHEMAS, migrate

OUT = Path(__file__).parent / "out"
ZONES = ("Asia/Shanghai", "America/New_York", "Europe/Berlin")
COHORTS, MEMBERS, DAYS = 50, 200, 105
START = date(2026, 5, 4)
console = Console()


def member_records(member_ids: list[str], now: datetime) -> list[bytes]:
    """Every cohort's `members` records in log order (see the module docstring)."""
    def at(days: int) -> date:
        return START + timedelta(days=days)

    saturday = at(49 + (5 - at(49).weekday()) % 7)
    out: list = []
    for c in range(COHORTS):
        cohort = f"c{c:02d}"
        base = CohortSettings(ends_on=at(DAYS - 1), holidays=(at(10),))
        out.append(CohortConfigured(event_id=uuid.uuid4(), cohort=cohort, settings=base, occurred_at=now))
        out.append(CohortConfigured(event_id=uuid.uuid4(), cohort=cohort, occurred_at=now, effective_on=at(49),
                                    settings=base.model_copy(update={"tasks": ("meal", "exercise"),
                                                                     "holidays": (at(60),),
                                                                     "working_days": (saturday,)})))
    for i, member in enumerate(member_ids):
        cohort, other_zone = member.split("-")[0], ZONES[(i + 1) % 3]
        out.append(MemberEnrolled(event_id=uuid.uuid4(), member_id=member, cohort=cohort, timezone=ZONES[i % 3],
                                  enrolled_on=START, occurred_at=now))
        kind = i % MEMBERS
        if kind < 4:  # moves to another zone from day 41
            out.append(MemberTimezoneChanged(event_id=uuid.uuid4(), member_id=member, cohort=cohort,
                                             timezone=other_zone, effective_on=at(40), occurred_at=now))
        elif kind < 6:  # withdraws on day 21, comes back on day 28 in another zone
            out.append(MemberWithdrawn(event_id=uuid.uuid4(), member_id=member, cohort=cohort,
                                       withdrawn_on=at(20), occurred_at=now))
            out.append(MemberEnrolled(event_id=uuid.uuid4(), member_id=member, cohort=cohort, timezone=other_zone,
                                      enrolled_on=at(27), occurred_at=now))
        elif kind < 8:  # a withdrawal dated after the tick
            out.append(MemberWithdrawn(event_id=uuid.uuid4(), member_id=member, cohort=cohort,
                                       withdrawn_on=date(2026, 10, 1), occurred_at=now))
    return [r.model_dump_json().encode() for r in out]


def fill(ch, total: int) -> float:
    members = COHORTS * MEMBERS
    rng = np.random.default_rng(1)
    member_ids = [f"c{c:02d}-m{m:03d}" for c in range(COHORTS) for m in range(MEMBERS)]
    now = datetime(2026, 9, 1, tzinfo=timezone.utc)
    # Stored as the sink stores them (member_records, enrolments, withdrawals, cohorts).
    by_table: dict[str, list[dict]] = {}
    for offset, value in enumerate(member_records(member_ids, now)):
        for table, row in member_rows(value, 0, offset):
            by_table.setdefault(table, []).append(row)
    for table, rows in by_table.items():
        schema = TABLE_SCHEMAS[table]
        ch.insert(table, {name: [r[name] for r in rows] for name in schema.names}, schema)
    ch.insert("clock_ticks", {"event_id": ["t"], "now": [datetime(2026, 8, 20, tzinfo=timezone.utc)],
                              "kafka_partition": [0], "kafka_offset": [0]}, TABLE_SCHEMAS["clock_ticks"])
    started, batch = time.perf_counter(), 1_000_000
    base = int(datetime(2026, 5, 3, 12, tzinfo=timezone.utc).timestamp() * 1000)
    task_sets = [[], ["meal"], ["exercise"], ["meditation"], ["meal", "exercise"]]
    for first in range(0, total, batch):
        n = min(batch, total - first)
        member = rng.integers(0, members, n)
        at = base + rng.integers(0, DAYS * 86_400_000, n)
        kind = rng.integers(0, 5, n)
        table = pa.table({
            "event_id": pa.array([f"{first + i:032x}" for i in range(n)]),
            "member_id": pa.array(np.array(member_ids, dtype=object)[member]),
            "type": pa.array(np.array(["login", "checkin", "checkin", "meditation_play", "post"], dtype=object)[kind]),
            "occurred_at": pa.array(at, pa.timestamp("ms", tz="UTC")),
            "received_at": pa.array(at, pa.timestamp("ms", tz="UTC")),
            "tasks": pa.array([task_sets[k] for k in kind], pa.list_(pa.string())),
            "action": pa.array(((kind >= 1) & (kind <= 3)).astype(np.uint8)),
            "payload": pa.array(["{}"] * n),
            "kafka_partition": pa.array(np.zeros(n, np.uint16)),
            "kafka_offset": pa.array(np.arange(first, first + n, dtype=np.uint64)),
        })
        _insert_arrow(ch, table)
        console.print(f"  {first + n:>11,} events", end="\r")
    # A store at rest: the background merges a long-running ClickHouse does have run (a fresh fill
    # leaves the insert-time aggregates in several parts, ~1.5x slower to read).
    for table in ("events", "member_day_events", "aggregated_events"):
        ch.command(f"OPTIMIZE TABLE {table} FINAL")
    return time.perf_counter() - started


def _insert_arrow(ch, batch: pa.Table) -> None:
    names = ", ".join(batch.column_names)
    ch._run(f"INSERT INTO events ({names}) SELECT {names} FROM Python(batch)", "CSV")  # Python(batch): this frame


def reference_fold(ch, cohort: str) -> queries.ReferenceFold:
    calendar = queries.cohort_calendar(ch, cohort)
    engagement = queries.engagement(ch, calendar, cohort)
    return queries.ReferenceFold(calendar, days.member_days(calendar, queries.latest_tick(ch), engagement))


def reference_weekly(ch, cohort: str) -> list:
    return [WeekRates(**r) for r in reference_fold(ch, cohort).weekly("followup", 4)]


def check_reference(ch, cohort: str) -> None:
    """The answers grid.py computes equal those of the reference fold (days.py) on this cohort."""
    def answers(fold) -> list:
        return [fold.weekly(d, 4) for d in ("followup", "enrolled")] + [
            fold.daily(d, date.min, date.max) for d in ("followup", "enrolled")] + [fold.member_summaries()] + [
            fold.daytypes(d, s, 4) for d in ("followup", "enrolled") for s in ("all", "intervention", "open-ended")]

    fast, ref = queries.cohort_fold(ch, cohort), reference_fold(ch, cohort)
    if fast.member_days() != ref.member_days() or answers(fast) != answers(ref):
        raise SystemExit("grid.py and the reference fold days.py differ")


def timed(fn, runs: int = 20) -> tuple[float, float]:
    fn()  # warm
    samples = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(0.95 * (len(samples) - 1))]


def main() -> None:
    total = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000_000
    with tempfile.TemporaryDirectory(prefix="bench-chdb-") as tmp:
        ch = connect(f"chdb://{tmp}/chdb")
        migrate(ch)
        console.print(f"filling {total:,} events …")
        fill_s = fill(ch, total)
        console.print(f"filled in {fill_s:.1f} s ({total / fill_s:,.0f} rows/s incl. generation)")
        t = time.perf_counter()
        for cohort in queries.cohorts(ch):
            queries.refresh_rollup(ch, cohort, 1)
        rollup_s = time.perf_counter() - t
        cohort = "c07"
        grafana = ("SELECT week, 100 * sum(logged_in) / count() AS l, 100 * sum(participated) / count() AS p, "
                   "100 * sum(completed) / count() AS c, count() AS n FROM member_days_current "
                   "WHERE cohort = {c:String} GROUP BY week ORDER BY week")
        api = [("weekly followup", queries.weekly, ("followup",)), ("weekly enrolled", queries.weekly, ("enrolled",)),
               ("daily followup", queries.daily, (None, None, "followup")),
               ("daily enrolled", queries.daily, (None, None, "enrolled")), ("members", queries.members, ()),
               ("daytypes followup", queries.daytypes, ("all", "followup")),
               ("daytypes enrolled", queries.daytypes, ("all", "enrolled")), ("summary", queries.summary, ())]
        if not queries.aggregate_current(ch, cohort):
            raise SystemExit("member_day_events does not match the raw events after the refresh")
        load = [os.getloadavg()[0]]
        rows = [(f"API {name} (computed: member-day aggregate, checked)",
                 *timed(lambda fn=fn, args=args: Answers(ch).get(fn, cohort, *args))) for name, fn, args in api]
        load.append(os.getloadavg()[0])
        served = Answers(ch)
        rows += [(f"API {name} (data unchanged: answer cache)",
                  *timed(lambda fn=fn, args=args: served.get(fn, cohort, *args))) for name, fn, args in api]
        fast = [fn(ch, cohort, *args) for _, fn, args in api]
        if [served.get(fn, cohort, *args) for _, fn, args in api] != fast:
            raise SystemExit("cached and computed answers differ")
        check_reference(ch, cohort)
        rows.append(("API weekly followup computed by the reference fold days.py (the path before grid.py)",
                     *timed(lambda: reference_weekly(ch, cohort), runs=5)))
        check = queries.aggregate_current
        queries.aggregate_current = lambda ch, cohort: False  # the raw-event definition, for comparison
        try:
            rows += [(f"API {name} (raw events)", *timed(lambda fn=fn, args=args: fn(ch, cohort, *args)))
                     for name, fn, args in api]
            if [fn(ch, cohort, *args) for _, fn, args in api] != fast:
                raise SystemExit("aggregate and raw-event answers differ")
        finally:
            queries.aggregate_current = check
        rows += [("aggregate check alone", *timed(lambda: check(ch, cohort))),
                 ("Grafana Table 3 (member_days rollup)", *timed(lambda: ch.query(grafana, {"c": cohort})))]
        load.append(os.getloadavg()[0])
        ch.close()
    table = Table(
        title=f"metrics queries at {total:,} events ({COHORTS} cohorts × {MEMBERS} members, one cohort queried)"
    )
    for col in ("query", "median ms", "p95 ms"):
        table.add_column(col)
    for name, p50, p95 in rows:
        table.add_row(name, f"{p50:.1f}", f"{p95:.1f}")
    console.print(table)
    console.print(f"rollup refresh, all {COHORTS} cohorts: {rollup_s:.2f} s")
    console.print("load average (1 min) before / after the computed answers / at the end: "
                  + " / ".join(f"{x:.1f}" for x in load))
    OUT.mkdir(exist_ok=True)
    lines = [f"# metrics query latency at {total:,} events", "", "| query | median ms | p95 ms |", "|---|---|---|"]
    lines += [f"| {n} | {a:.1f} | {b:.1f} |" for n, a, b in rows]
    lines += ["", f"rollup refresh (all {COHORTS} cohorts): {rollup_s:.2f} s; fill {fill_s:.1f} s; "
              f"load average (1 min) before / after the computed answers / at the end: "
              + " / ".join(f"{x:.1f}" for x in load) + f" on {os.cpu_count()} cores"]
    (OUT / "metrics_query.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
