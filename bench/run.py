"""`make bench` → `python -m bench.run`: every benchmark, one report (`bench/results.md`).

1. The other benchmarks, each as a subprocess (their own tables land in bench/out/*.md and are
   copied into the report): `bench.ingest` (single and 500-event requests, p50/p99, beside the bare
   producer), `bench.metrics_stream` (faust events/s of one worker), `bench.metrics_query` (query
   latency at 10 M events), `bench.metrics_freshness` (202 → counted, idle), `bench.notifier`,
   `bench.survey`, `bench.scale_out` (tests/scale with a heavier cohort and 3 workers), `bench.restart`
   (restarts from snapshots vs full replay), `bench.sink_headroom` (one ClickHouse sink against 10× the
   national programme's peak), `bench.metrics_workers` (1, 2, 3 metrics stream workers → events/s),
   `bench.memory_flood` (a million events from one member token: peak RSS of every process against its
   memory limit). Peak RSS of every process each one starts is sampled from /proc (VmHWM).
2. Raw limits measured in the same run (`raw_*`): the broker's own produce and consume rate with the
   same message size (kafka-python acks=all producer; aiokafka consumer without a group), chDB's
   insert rate (Arrow batches through the metrics ClickHouse client, as the sink writes).
3. The whole platform as `make run` starts it (subprocesses on free ports): a simulated cohort
   replayed as fast as possible (end-to-end events/s, time until every number equals the ground
   truth), event → API freshness p50/p95 while a locust load runs, and the peak RSS of each service.

Each figure sits beside its target and its raw limit. `--quick` shrinks every size (a smoke run).
"""

from __future__ import annotations

import asyncio
import csv
import importlib.util
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
OUT = Path(__file__).parent / "out"
RESULTS = Path(__file__).parent / "results.md"
SECRET = "bench-secret-0123456789abcdef0123456789"
console = Console()
# Figures measured by hand (standalone runs, probes) live in results.md too, under this heading, so
# that every benchmark figure has one home; a `make bench` rewrite keeps that section.
MANUAL_HEADING = "## Measured outside `make bench`"


def manual_section(previous: str) -> str:
    """The hand-kept section of the previous results.md (from its heading to the end), or ''."""
    start = previous.find(MANUAL_HEADING)
    return previous[start:].rstrip() + "\n" if start >= 0 else ""


# ---------------------------------------------------------------- peak RSS of process trees

def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def _label(pid: int) -> str:
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return "?"
    args = [a.decode(errors="replace") for a in args if a]
    if not args:
        return "?"
    program = Path(args[0]).name
    if program.startswith("python") and "-m" in args and args.index("-m") + 1 < len(args):
        return args[args.index("-m") + 1]
    if "tansu" in program or args[1:2] == ["broker"]:
        return "broker (tansu)"
    return program


def _hwm_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


@dataclass
class RssSampler:
    """Peak resident memory (VmHWM) of a process and all its descendants, by label, sampled every 0.2 s."""

    roots: list[int]
    peaks: dict[str, int] = field(default_factory=dict)  # label → KiB
    _stop: threading.Event = field(default_factory=threading.Event)

    def sample(self) -> None:
        todo, seen = list(self.roots), set()
        while todo:
            pid = todo.pop()
            if pid in seen:
                continue
            seen.add(pid)
            hwm = _hwm_kib(pid)
            if hwm is not None:
                label = _label(pid)
                self.peaks[label] = max(self.peaks.get(label, 0), hwm)
            todo += _children(pid)

    def __enter__(self) -> "RssSampler":
        def loop() -> None:
            while not self._stop.wait(0.2):
                self.sample()
        self._thread = threading.Thread(target=loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.sample()
        self._stop.set()
        self._thread.join()


# ---------------------------------------------------------------- the other engineers' benchmarks

@dataclass
class StepResult:
    name: str
    seconds: float
    ok: bool
    markdown: str
    rss: dict[str, int]


def run_step(name: str, module: str, args: list[str], out_file: str, timeout_s: float) -> StepResult:
    if importlib.util.find_spec(module) is None:
        return StepResult(name, 0.0, False, f"_{module} is not in this checkout._", {})
    (OUT / out_file).unlink(missing_ok=True)
    console.rule(f"{name}: python -m {module} {' '.join(args)}")
    started = time.monotonic()
    process = subprocess.Popen([sys.executable, "-m", module, *args], cwd=ROOT,
                               env=dict(os.environ, LOG_LEVEL="WARNING", PYTHONUNBUFFERED="1"))
    with RssSampler([process.pid]) as rss:
        try:
            code = process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            code = process.wait()
            console.print(f"[red]{name} stopped after {timeout_s:.0f} s[/]")
    seconds = time.monotonic() - started
    text = (OUT / out_file).read_text() if (OUT / out_file).exists() else f"_no output (exit {code})_"
    return StepResult(name, seconds, code == 0, text, dict(rss.peaks))


def _number(pattern: str, text: str) -> float | None:
    m = re.search(pattern, text)
    return float(m.group(1).replace(",", "")) if m else None


# ---------------------------------------------------------------- raw limits

def raw_broker(messages: int) -> dict[str, float]:
    """The broker alone, with the ingest benchmark's serialized events: produce and consume rate."""
    from aiokafka import AIOKafkaConsumer, TopicPartition
    from kafka import KafkaProducer

    from bench.ingest import sample_events
    from contracts.events import parse_client_event
    from services.common.broker import start_broker
    from services.common.kafka import ensure_topics, producer_config

    received = datetime.now(timezone.utc)
    values = [(e["member_id"].encode(), parse_client_event(e, received).model_dump_json(exclude_none=True).encode())
              for e in sample_events(1000)]
    size = statistics.mean(len(v) for _, v in values)
    broker, bootstrap = start_broker()
    try:
        ensure_topics(bootstrap)
        producer = KafkaProducer(**producer_config(bootstrap, client_id="bench-raw"))
        producer.send("engagement.events", key=values[0][0], value=values[0][1]).get(10)
        t = time.perf_counter()
        for i in range(messages - 1):
            key, value = values[i % len(values)]
            producer.send("engagement.events", key=key, value=value)
        producer.flush()
        produce = (messages - 1) / (time.perf_counter() - t)
        producer.close()

        async def consume() -> float:
            consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                        auto_offset_reset="earliest", max_partition_fetch_bytes=4 * 1024 * 1024)
            await consumer.start()
            try:
                parts = [
                    TopicPartition("engagement.events", p) for p in consumer.partitions_for_topic("engagement.events")
                ]
                consumer.assign(parts)
                await consumer.seek_to_beginning(*parts)
                got, t0 = 0, time.perf_counter()
                deadline = t0 + 120
                while got < messages and time.perf_counter() < deadline:
                    batches = await consumer.getmany(timeout_ms=200, max_records=10_000)
                    got += sum(len(b) for b in batches.values())
                return got / (time.perf_counter() - t0)
            finally:
                await consumer.stop()

        return {"produce": produce, "consume": asyncio.run(consume()), "bytes": size}
    finally:
        broker.terminate()
        broker.wait(10)


def raw_chdb(rows: int) -> dict[str, float]:
    """chDB's insert rate into the `events` table through the metrics client (Arrow), big and sink-sized batches."""
    from services.metrics.clickhouse import connect
    from services.metrics.schema import TABLE_SCHEMAS, migrate

    at = datetime(2026, 6, 1, tzinfo=timezone.utc)
    columns = {
        "event_id": [uuid.uuid4().hex for _ in range(rows)],
        "member_id": [f"m-{i % 5000:05d}" for i in range(rows)],
        "type": ["checkin"] * rows,
        "occurred_at": [at + timedelta(seconds=i) for i in range(rows)],
        "received_at": [at] * rows,
        "tasks": [["meal"]] * rows,
        "action": [1] * rows,
        "payload": ['{"task":"meal"}'] * rows,
        "kafka_partition": [i % 6 for i in range(rows)],
        "kafka_offset": list(range(rows)),
    }
    import pyarrow as pa

    with tempfile.TemporaryDirectory(prefix="bench-raw-chdb-") as tmp:
        ch = connect(f"chdb://{tmp}/chdb")
        migrate(ch)
        schema = TABLE_SCHEMAS["events"]
        batch = pa.table({n: pa.array(columns[n], type=schema.field(n).type) for n in schema.names})  # noqa: F841
        names = ", ".join(schema.names)
        t = time.perf_counter()  # the engine alone: one ready Arrow table (chDB resolves Python(batch) here)
        ch._run(f"INSERT INTO events ({names}) SELECT {names} FROM Python(batch)", "CSV")
        big = rows / (time.perf_counter() - t)
        small_n = 20_000  # the sink's default batch (METRICS_SINK_BATCH_MAX), from Python columns like the sink
        part = {k: v[:small_n] for k, v in columns.items()}
        t = time.perf_counter()
        for _ in range(5):
            ch.insert("events", part, schema)
        small = 5 * small_n / (time.perf_counter() - t)
        ch.close()
    return {"big": big, "small": small, "rows": rows}


# ---------------------------------------------------------------- the platform end to end

def platform_run(members: int, fresh_samples: int, locust_users: int, locust_seconds: int) -> dict:
    from loadtests.scenario import rates_cohort
    from loadtests.simulate import Platform, replay, wait_for_platform
    from loadtests.stack import running

    out: dict = {}
    with tempfile.TemporaryDirectory(prefix="bench-stack-") as tmp_name:
        tmp = Path(tmp_name)
        services = {"ingest": {}, "metrics": {"CLICKHOUSE_URL": f"chdb://{tmp / 'chdb'}"}, "notifier": {}, "survey": {}}
        console.rule("platform: broker + ingest + metrics + notifier + survey (as make run)")
        with running(SECRET, tmp, services) as stack:
            roots = [stack.broker_pid, *stack.pids().values()]
            platform = Platform(stack.urls["ingest"], stack.urls["metrics"], SECRET)
            # 1. a simulated cohort, as fast as the platform takes it
            sim = rates_cohort(members=members, weeks=15, seed=3, cohort="bench-sim", prefix="bs")
            t = time.monotonic()
            sent = replay(sim, platform, tick_hours=24)
            replay_s = time.monotonic() - t
            _, diffs = wait_for_platform(sim, platform, timeout_s=180)
            out["sim"] = {"events": sent, "replay_s": replay_s, "caught_up_s": time.monotonic() - t,
                          "diffs": len(diffs), "members": members}
            console.print(f"simulator: {sent:,} deliveries in {replay_s:.1f} s, equal after "
                          f"{out['sim']['caught_up_s']:.1f} s, {len(diffs)} differences")
            # 2. freshness under a locust load
            locust = subprocess.Popen(
                [sys.executable, "-m", "locust", "-f", "loadtests/locustfile.py", "--headless", "-u", str(locust_users),
                 "-r", str(locust_users), "-t", f"{locust_seconds}s", "--host", stack.urls["ingest"],
                 "--csv", str(tmp / "lt"), "--only-summary"], cwd=ROOT, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, env=dict(os.environ, JWT_SECRET=SECRET, NOTIFIER_URL=stack.urls["notifier"],
                                                   SURVEY_URL=stack.urls["survey"]))
            with RssSampler([locust.pid]) as rss:
                out["freshness"] = freshness(platform, fresh_samples)
                locust.wait(locust_seconds + 60)
            with open(tmp / "lt_stats.csv", newline="") as f:
                total = next(r for r in csv.DictReader(f) if r["Name"] == "Aggregated")
            out["locust"] = {"users": locust_users, "seconds": locust_seconds, "requests": int(total["Request Count"]),
                             "failures": int(total["Failure Count"]), "rps": float(total["Requests/s"]),
                             "p50": float(total["50%"]), "p99": float(total["99%"])}
            names = {stack.broker_pid: "broker (tansu)", **{pid: f"services.{n}" for n, pid in stack.pids().items()}}
            out["rss"] = {names[pid]: _hwm_kib(pid) or 0 for pid in roots}
            out["rss"]["locust (load generator)"] = max(rss.peaks.values(), default=0)
    return out


def freshness(platform, samples: int) -> dict:
    """Seconds from `POST /v1/events` (202) until `/weekly` counts the new login: a fresh cohort whose
    members log in one at a time, each the first login of its member-day."""
    cohort = f"fresh-{uuid.uuid4().hex[:6]}"
    now = datetime.now(timezone.utc)
    members = [f"{cohort}-{i:03d}" for i in range(samples)]
    platform.send("PUT", platform.ingest(f"/v1/cohorts/{cohort}/settings"), {})
    for m in members:
        platform.send("POST", platform.ingest("/v1/enrollments"),
                      {"member_id": m, "cohort": cohort, "timezone": "UTC", "enrolled_on": now.date().isoformat()})
    platform.tick(now + timedelta(minutes=1))

    def logged_in() -> int | None:
        r = platform.http.get(f"{platform.metrics_url}/v1/cohorts/{cohort}/weekly", headers=platform.headers())
        rows = r.json() if r.status_code == 200 else []
        return rows[0]["logged_in_days"] if rows and rows[0]["member_days"] == samples else None

    deadline = time.monotonic() + 60
    while logged_in() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    lags = []
    for i, m in enumerate(members):
        event = {"event_id": str(uuid.uuid4()), "type": "login", "member_id": m,
                 "occurred_at": datetime.now(timezone.utc).isoformat(), "payload": {}}
        t = time.monotonic()
        platform.send("POST", platform.ingest("/v1/events"), [event])
        while (logged_in() or 0) < i + 1:
            if time.monotonic() - t > 30:
                break
            time.sleep(0.01)
        lags.append(time.monotonic() - t)
    lags.sort()
    return {"samples": len(lags), "p50": statistics.median(lags), "p95": lags[int(0.95 * (len(lags) - 1))],
            "max": lags[-1]}


# ---------------------------------------------------------------- report

def _fmt(x: float | None, unit: str = "", digits: int = 0) -> str:
    return "n/a" if x is None else f"{x:,.{digits}f}{unit}"


def _ratio(a: float | None, b: float | None) -> str:
    return "n/a" if not a or not b else f"{a / b:.0%}"


def summary_rows(
    steps: dict[str, StepResult], raw: dict, chdb: dict, plat: dict
) -> list[tuple[str, str, str, str, str]]:
    ingest = steps["ingest"].markdown if "ingest" in steps else ""
    batched = _number(r"ingest, 500-event requests \| ([\d,.]+) events/s", ingest)
    bare = _number(r"bare kafka-python producer[^|]*\| ([\d,.]+) events/s", ingest)
    single_rps = _number(r"ingest, single events[^|]*\| ([\d,.]+) req/s", ingest)
    single_p50 = _number(r"ingest, single events.*?p50 ([\d.]+) ms", ingest)
    single_p99 = _number(r"ingest, single events.*?p99 ([\d.]+) ms", ingest)
    batch_p50 = _number(r"latency per 500-event request \| p50 ([\d.]+) ms", ingest)
    batch_p99 = _number(r"latency per 500-event request \| p50 [\d.]+ ms, p99 ([\d.]+) ms", ingest)
    stream = steps["metrics_stream"].markdown if "metrics_stream" in steps else ""
    faust = _number(r"steady rate[^:]*: ([\d,.]+) events/s", stream)
    query = steps["metrics_query"].markdown if "metrics_query" in steps else ""
    q = {name: [(_number(rf"API {name} \({how}[^)]*\) \| ([\d.]+) \|", query),
                 _number(rf"API {name} \({how}[^)]*\) \| [\d.]+ \| ([\d.]+) \|", query))
                for how in ("computed", "data unchanged")]
         for name in ("weekly", "daily", "members", "daytypes")}
    grafana = (_number(r"Grafana[^|]*\| ([\d.]+) \|", query), _number(r"Grafana[^|]*\| [\d.]+ \| ([\d.]+) \|", query))
    fresh = plat.get("freshness", {})
    idle = steps["metrics_freshness"].markdown if "metrics_freshness" in steps else ""
    idle_p50, idle_p95 = _number(r"p50 ([\d.]+) ms", idle), _number(r"p95 ([\d.]+) ms", idle)
    sim = plat.get("sim", {})
    lt = plat.get("locust", {})
    rows = [
        (
            "ingest, 500-event requests (events/s)",
            _fmt(batched),
            "≥ 70 % of the bare producer",
            f"bare producer (same events, acks=all) {_fmt(bare)} · broker alone {_fmt(raw.get('produce'))}",
            f"{_ratio(batched, bare)} of bare producer",
        ),
        (
            "  latency per 500-event request",
            f"p50 {_fmt(batch_p50, ' ms', 1)} · p99 {_fmt(batch_p99, ' ms', 1)}",
            "",
            "",
            "",
        ),
        (
            "ingest, single events (req/s at a 1,000 req/s offer)",
            _fmt(single_rps),
            "p99 < 50 ms",
            "",
            f"p50 {_fmt(single_p50, ' ms', 1)} · p99 {_fmt(single_p99, ' ms', 1)}",
        ),
        (
            "faust member-day state, one worker (events/s)",
            _fmt(faust),
            "≥ 10,000",
            f"broker consume (aiokafka, no group) {_fmt(raw.get('consume'))} rec/s",
            f"{_ratio(faust, raw.get('consume'))} of consume",
        ),
        (
            "event → API freshness, idle (202 → counted by /daily; bench.metrics_freshness)",
            f"p50 {_fmt(idle_p50, ' ms')} · p95 {_fmt(idle_p95, ' ms')}",
            "p95 < 2 s",
            "",
            "",
        ),
        (
            "event → API freshness under load (POST → counted by /weekly, whole platform)",
            f"p50 {_fmt(fresh.get('p50'), ' s', 2)} · p95 {_fmt(fresh.get('p95'), ' s', 2)} "
            f"({fresh.get('samples', 0)} events)",
            "p95 < 2 s",
            f"while {lt.get('users', 0)} locust users run",
            "",
        ),
    ]
    at = _number(r"latency at ([\d,]+) events", query)
    for name, ((p50, p95), (c50, c95)) in q.items():
        rows.append((f"API /{name} at {_fmt(at)} events, computed (as after every write)",
                     f"median {_fmt(p50, ' ms', 1)} · p95 {_fmt(p95, ' ms', 1)}", "< 100 ms", "",
                     f"data unchanged (answer cache): median {_fmt(c50, ' ms', 1)} · p95 {_fmt(c95, ' ms', 1)}"))
    rows.append(("query: dashboard Table 3 from the member_days rollup",
                 f"median {_fmt(grafana[0], ' ms', 1)} · p95 {_fmt(grafana[1], ' ms', 1)}", "< 100 ms", "", ""))
    rows.append(
        (
            "chDB insert as the sink writes (20,000-row batches from Python columns)",
            _fmt(chdb.get("small"), " rows/s"),
            "",
            f"engine alone: one {chdb.get('rows', 0):,}-row Arrow table {_fmt(chdb.get('big'), ' rows/s')}",
            _ratio(chdb.get("small"), chdb.get("big")),
        )
    )
    rows.append(("simulator end to end (replay → every number equal)",
                 f"{sim.get('events', 0):,} deliveries in {_fmt(sim.get('replay_s'), ' s', 1)}, equal after "
                 f"{_fmt(sim.get('caught_up_s'), ' s', 1)}", "0 differences", f"{sim.get('diffs', 'n/a')} differences",
                 f"{_fmt((sim.get('events') or 0) / (sim.get('replay_s') or 1))} events/s through ingest"))
    rows.append(
        (
            f"locust, {lt.get('users', 0)} users for {lt.get('seconds', 0)} s (alongside)",
            f"{_fmt(lt.get('rps'), ' req/s', 1)}, p50 {_fmt(lt.get('p50'), ' ms')} · p99 {_fmt(lt.get('p99'), ' ms')}",
            "0 failures",
            f"{lt.get('failures', 'n/a')} failures of {lt.get('requests', 0):,}",
            "",
        )
    )
    return rows


def main(quick: bool = False) -> None:
    OUT.mkdir(exist_ok=True)
    started = time.monotonic()
    steps: dict[str, StepResult] = {}
    plan = [
        ("ingest", "bench.ingest", [], "ingest.md", 240),
        ("metrics_stream", "bench.metrics_stream", ["10000" if quick else "50000"], "metrics_stream.md", 180),
        ("metrics_query", "bench.metrics_query", ["300000" if quick else "10000000"], "metrics_query.md", 300),
        ("metrics_freshness", "bench.metrics_freshness", ["20" if quick else "100"], "metrics_freshness.md", 120),
        ("notifier", "bench.notifier", ["2000" if quick else "5000", "--broker"], "notifier.md", 120),
        ("survey", "bench.survey", ["2000" if quick else "20000", "--broker"], "survey.md", 120),
        ("scale_out", "bench.scale_out", ["240" if quick else "600"], "scale_out.md", 1200),
        ("sink_headroom", "bench.sink_headroom", ["50000" if quick else "200000"], "sink_headroom.md", 300),
        ("metrics_workers", "bench.metrics_workers", ["20000" if quick else "100000"], "metrics_workers.md", 900),
        # restart time and RSS after 1, 10, 100 cohort-months, snapshot vs full replay (docs/scale.md)
        ("restart", "bench.restart", ["3" if quick else "10"], "restart.md", 1800),
        ("memory_flood", "bench.memory_flood", ["50000" if quick else "1000000"], "memory_flood.md", 2400),
    ]
    if quick:
        plan = [p for p in plan if p[0] != "ingest"]  # hey runs fixed durations (≈ 80 s)
    for name, module, args, out_file, timeout in plan:
        steps[name] = run_step(name, module, args, out_file, timeout)
    console.rule("raw limits: broker alone, chDB alone")
    raw = raw_broker(20_000 if quick else 200_000)
    console.print(f"broker alone: produce {raw['produce']:,.0f} msg/s, consume {raw['consume']:,.0f} msg/s "
                  f"({raw['bytes']:.0f} B per message)")
    chdb = raw_chdb(100_000 if quick else 1_000_000)
    console.print(f"chDB insert: {chdb['big']:,.0f} rows/s in one batch, {chdb['small']:,.0f} rows/s in 20k batches")
    plat = platform_run(members=30 if quick else 200, fresh_samples=10 if quick else 40,
                        locust_users=20 if quick else 100, locust_seconds=10 if quick else 30)
    total_s = time.monotonic() - started

    rows = summary_rows(steps, raw, chdb, plat)
    table = Table(title=f"CareCircle benchmarks ({os.cpu_count()} cores, {total_s / 60:.1f} min)")
    for col in ("figure", "result", "target", "raw limit (same run)", "ratio / detail"):
        table.add_column(col)
    for row in rows:
        table.add_row(*row)
    console.print(table)
    rss = dict(plat.get("rss", {}))
    for step in steps.values():
        for label, kib in step.rss.items():
            rss.setdefault(f"{label} (in {step.name} bench)", kib)
    rss_table = Table(title="peak RSS (VmHWM)")
    rss_table.add_column("process")
    rss_table.add_column("MiB", justify="right")
    for label, kib in rss.items():
        rss_table.add_row(label, f"{kib / 1024:,.0f}")
    console.print(rss_table)

    md = [
        "# CareCircle benchmark results",
        "",
        f"`make bench` (`python -m bench.run{' --quick' if quick else ''}`) on {os.cpu_count()} cores, "
        f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {total_s / 60:.1f} minutes in all. "
        "Local broker: tansu (memory); "
        "ClickHouse: embedded chDB. Raw limits are measured in the same run, so a busy machine lowers both sides.",
        "",
        "| figure | result | target | raw limit (same run) | ratio / detail |",
        "|---|---|---|---|---|",
    ]
    md += [f"| {' | '.join(r)} |" for r in rows]
    md += [
        "",
        f"Broker alone: {raw['bytes']:.0f}-byte events (the ingest benchmark's), produce {raw['produce']:,.0f} msg/s "
        f"(kafka-python, acks=all, idempotent), consume {raw['consume']:,.0f} msg/s (aiokafka, assigned partitions).",
        "",
        "## Peak RSS of each process (VmHWM)",
        "",
        "| process | MiB |",
        "|---|---|",
    ]
    md += [f"| {label} | {kib / 1024:,.0f} |" for label, kib in rss.items()]
    md += [
        "",
        "The platform processes are measured while the simulator, the freshness probe and locust ran against them.",
    ]
    for step in steps.values():
        md += ["", f"## {step.name} ({step.seconds:.0f} s{'' if step.ok else ', FAILED'})", "",
               step.markdown.replace("\n# ", "\n### ").strip().removeprefix("# ")]
    kept = manual_section(RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else "")
    RESULTS.write_text("\n".join(md) + "\n" + (f"\n{kept}" if kept else ""))
    console.print(f"wrote {RESULTS.relative_to(ROOT)} in {total_s:.0f} s")
    failed = [s.name for s in steps.values() if not s.ok]
    if failed or plat.get("sim", {}).get("diffs") or plat.get("locust", {}).get("failures"):
        console.print(f"[red]failed: {failed} / simulator or locust errors[/]")
        sys.exit(1)


if __name__ == "__main__":
    main(quick="--quick" in sys.argv[1:])
