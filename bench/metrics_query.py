"""Metrics query latency at 10 million events in chDB.

`python -m bench.metrics_query [events]` fills a fresh chDB directory (Arrow batches) with synthetic
de-duplicated raw events — 50 cohorts × 200 members (3 time zones), 105 follow-up days, the events
spread over the members' days — plus enrolments, cohort settings and a clock tick; refreshes the
member_days rollup; then times (median / p95 of 20 runs, warm):
  * the API's answers (weekly, daily, members, daytypes) for one cohort as served
    (`answers.Answers.get`): computed — the data-version read, the cohort check and the queries, from
    the `member_day_events` aggregate ClickHouse maintains at insert time after the per-request check
    that it matches the raw events (`queries.aggregate_current`) — as after every new write; and
    from the answer cache while the data is unchanged (the data-version read included);
  * the same forced onto the raw-event definition (and the answers compared: they must be equal);
  * the dashboard's rollup query (Grafana Table 3 panel) for one cohort.
Prints a table and writes bench/out/metrics_query.md.
"""

from __future__ import annotations

import statistics
import sys
import uuid
import tempfile
import time
from datetime import date, datetime, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa
from rich.console import Console
from rich.table import Table

from contracts.members import MemberEnrolled
from services.metrics import queries
from services.metrics.answers import Answers
from services.metrics.clickhouse import connect
from services.metrics.schema import TABLE_SCHEMAS, migrate

OUT = Path(__file__).parent / "out"
ZONES = ("Asia/Shanghai", "America/New_York", "Europe/Berlin")
COHORTS, MEMBERS, DAYS = 50, 200, 105
START = date(2026, 5, 4)
console = Console()


def fill(ch, total: int) -> float:
    members = COHORTS * MEMBERS
    rng = np.random.default_rng(1)
    member_ids = [f"c{c:02d}-m{m:03d}" for c in range(COHORTS) for m in range(MEMBERS)]
    kafka = {"kafka_partition": [0] * members, "kafka_offset": list(range(members))}
    now = datetime(2026, 9, 1, tzinfo=timezone.utc)
    ch.insert("enrolments", {"member_id": member_ids, "cohort": [m.split("-")[0] for m in member_ids],
                             "timezone": [ZONES[i % 3] for i in range(members)], "enrolled_on": [START] * members,
                             "occurred_at": [now] * members, "event_id": member_ids, **kafka}, TABLE_SCHEMAS["enrolments"])
    # The same enrolments as the members-topic records the cohort calendar folds (member_records).
    records = [MemberEnrolled(event_id=uuid.UUID(int=i), member_id=m, cohort=m.split("-")[0], timezone=ZONES[i % 3],
                              enrolled_on=START, occurred_at=now) for i, m in enumerate(member_ids)]
    ch.insert("member_records", {"cohort": [r.cohort for r in records], "member_id": member_ids,
                                 "type": [r.type for r in records], "record": [r.model_dump_json() for r in records],
                                 **kafka}, TABLE_SCHEMAS["member_records"])
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
        api = (queries.weekly, queries.daily, queries.members, queries.daytypes)
        if not queries.aggregate_current(ch, cohort):
            raise SystemExit("member_day_events does not match the raw events after the refresh")
        rows = [(f"API {fn.__name__} (computed: member-day aggregate, checked)",
                 *timed(lambda fn=fn: Answers(ch).get(fn, cohort))) for fn in api]
        served = Answers(ch)
        rows += [(f"API {fn.__name__} (data unchanged: answer cache)", *timed(lambda fn=fn: served.get(fn, cohort)))
                 for fn in api]
        fast = [fn(ch, cohort) for fn in api]
        if [served.get(fn, cohort) for fn in api] != fast:
            raise SystemExit("cached and computed answers differ")
        check = queries.aggregate_current
        queries.aggregate_current = lambda ch, cohort: False  # the raw-event definition, for comparison
        try:
            rows += [(f"API {fn.__name__} (raw events)", *timed(lambda fn=fn: fn(ch, cohort))) for fn in api]
            if [fn(ch, cohort) for fn in api] != fast:
                raise SystemExit("aggregate and raw-event answers differ")
        finally:
            queries.aggregate_current = check
        rows += [("aggregate check alone", *timed(lambda: check(ch, cohort))),
                 ("Grafana Table 3 (member_days rollup)", *timed(lambda: ch.query(grafana, {"c": cohort})))]
        ch.close()
    table = Table(title=f"metrics queries at {total:,} events ({COHORTS} cohorts × {MEMBERS} members, one cohort queried)")
    for col in ("query", "median ms", "p95 ms"):
        table.add_column(col)
    for name, p50, p95 in rows:
        table.add_row(name, f"{p50:.1f}", f"{p95:.1f}")
    console.print(table)
    console.print(f"rollup refresh, all {COHORTS} cohorts: {rollup_s:.2f} s")
    OUT.mkdir(exist_ok=True)
    lines = [f"# metrics query latency at {total:,} events", "", "| query | median ms | p95 ms |", "|---|---|---|"]
    lines += [f"| {n} | {a:.1f} | {b:.1f} |" for n, a, b in rows]
    lines += ["", f"rollup refresh (all {COHORTS} cohorts): {rollup_s:.2f} s; fill {fill_s:.1f} s"]
    (OUT / "metrics_query.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
