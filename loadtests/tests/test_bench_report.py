"""bench/run.py's report: it reads the other benchmarks' tables and samples peak RSS (pure parts)."""

from __future__ import annotations

import os

from bench.run import RssSampler, StepResult, summary_rows

INGEST_MD = """| measure | result | target | ratio / detail |
|---|---|---|---|
| bare kafka-python producer (acks=all, idempotent) | 34,751 events/s | raw limit |  |
| ingest, 500-event requests | 17,274 events/s (34.5 req/s) | ≥ 70 % of raw | 50% of raw |
|   latency per 500-event request | p50 103.3 ms, p99 371.9 ms |  |  |
| ingest, single events at 1,000 req/s | 951 req/s | p99 < 50 ms | p50 9.8 ms, p99 66.3 ms |
"""
QUERY_MD = """# metrics query latency at 10,000,000 events

| query | median ms | p95 ms |
|---|---|---|
| API weekly (computed: member-day aggregate, checked) | 71.2 | 1088.1 |
| API daily (computed: member-day aggregate, checked) | 65.6 | 76.1 |
| API weekly (data unchanged: answer cache) | 2.9 | 3.4 |
| API weekly (raw events) | 351.9 | 1088.1 |
| API daily (raw events) | 135.6 | 146.1 |
| Grafana Table 3 (member_days rollup) | 26.3 | 43.9 |
"""
STREAM_MD = "* steady rate (first → last event, incl. engagement.daily publication): 2,656 events/s\n"


def test_summary_reads_every_figure_with_its_target_and_limit():
    steps = {name: StepResult(name, 1.0, True, md, {}) for name, md in
             (("ingest", INGEST_MD), ("metrics_query", QUERY_MD), ("metrics_stream", STREAM_MD))}
    rows = summary_rows(steps, {"produce": 40_000.0, "consume": 300_000.0}, {"big": 1e6, "small": 2e5, "rows": 10},
                        {"freshness": {"p50": 0.25, "p95": 0.5, "samples": 40}, "locust": {"users": 100}})
    text = {r[0]: r for r in rows}
    batched = text["ingest, 500-event requests (events/s)"]
    assert batched[1] == "17,274" and "34,751" in batched[3] and batched[4] == "50% of bare producer"
    assert text["  latency per 500-event request"][1] == "p50 103.3 ms · p99 371.9 ms"
    assert "p99 66.3 ms" in text["ingest, single events (req/s at a 1,000 req/s offer)"][4]
    faust = text["faust member-day state, one worker (events/s)"]
    assert faust[1] == "2,656" and faust[2] == "≥ 10,000" and faust[4] == "1% of consume"
    weekly = text["API /weekly at 10,000,000 events, computed (as after every write)"]
    assert (
        weekly[1] == "median 71.2 ms · p95 1,088.1 ms"
        and weekly[4] == "data unchanged (answer cache): median 2.9 ms · p95 3.4 ms"
    )
    daily = text["API /daily at 10,000,000 events, computed (as after every write)"]
    assert daily[1] == "median 65.6 ms · p95 76.1 ms" and "median n/a" in daily[4]  # missing → n/a
    assert text["API /members at 10,000,000 events, computed (as after every write)"][1] == "median n/a · p95 n/a"
    assert "p95 0.50 s" in text["event → API freshness under load (POST → counted by /weekly, whole platform)"][1]
    assert (
        text["event → API freshness, idle (202 → counted by /daily; bench.metrics_freshness)"][1] == "p50 n/a · p95 n/a"
    )


def test_summary_reads_the_idle_freshness_line():
    md = "# metrics freshness\n\n* accepted → visible in API over 100 probes: p50 207 ms, p95 297 ms, max 926 ms\n"
    rows = summary_rows({"metrics_freshness": StepResult("metrics_freshness", 1.0, True, md, {})}, {}, {}, {})
    row = next(r for r in rows if r[0].startswith("event → API freshness, idle"))
    assert row[1] == "p50 207 ms · p95 297 ms"


def test_rss_sampler_sees_this_process():
    with RssSampler([os.getpid()]) as rss:
        pass
    assert max(rss.peaks.values()) > 10 * 1024  # KiB: a Python process with these imports is > 10 MiB
