"""Ingest benchmark: accepted events/s and latency of one ingest worker beside a bare producer.

`python -m bench.ingest` (or `make bench`) starts its own broker and one uvicorn ingest worker on
free ports, then measures in the same run:
  1. the bare kafka-python producer (same config, same serialized events) — the raw limit;
  2. 500-event requests at full speed (hey, 4 connections);
  3. single-event requests at a fixed 1,000 requests/s (hey -q), for p50/p99.
1 and 2 alternate three times and the median of each is reported, so that background load on a
shared machine drifts into both sides of the ratio alike.
Prints a table and writes bench/out/ingest.md. Needs Debian's `hey` (installed if missing and root).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from uuid import uuid4

import httpx
from kafka import KafkaProducer
from rich.console import Console
from rich.table import Table

from contracts.events import parse_client_event
from services.common.auth import mint_token
from services.common.broker import free_port, start_broker, wait_for_port
from services.common.kafka import ensure_topics, producer_config

SECRET = "bench-secret-0123456789abcdef0123456789"
OUT = Path(__file__).parent / "out"
console = Console()


def sample_events(n: int, members: int = 50) -> list[dict]:
    start = datetime.now(timezone.utc) - timedelta(days=1)
    kinds = [
        ("checkin", {"task": "exercise", "steps": 5400}), ("checkin", {"task": "meal"}), ("login", {}),
        ("meditation_play", {"content_id": "breathing-01", "seconds": 600, "completed": True}),
        ("post", {"channel": "community", "topic": "diet"}),
    ]
    events = []
    for i in range(n):
        kind, payload = kinds[i % len(kinds)]
        events.append({"event_id": str(uuid4()), "type": kind, "member_id": f"m-{i % members:04d}",
                       "occurred_at": (start + timedelta(seconds=i)).isoformat(), "payload": payload})
    return events


def enrol(base_url: str, token: str, members: list[str]) -> None:
    """Ingest refuses events of members never enrolled: enrol the sample's members first."""
    for member in members:
        httpx.post(f"{base_url}/v1/enrollments", headers={"Authorization": f"Bearer {token}"}, timeout=10, json={
            "member_id": member, "cohort": "bench", "timezone": "UTC",
            "enrolled_on": (datetime.now(timezone.utc) - timedelta(days=2)).date().isoformat()}).raise_for_status()


def bare_producer_rate(bootstrap: str, events: list[dict], rounds: int) -> float:
    received = datetime.now(timezone.utc)
    values = [(e["member_id"].encode(), parse_client_event(e, received).model_dump_json(exclude_none=True).encode())
              for e in events]
    producer = KafkaProducer(**producer_config(bootstrap, client_id="bench-bare"))
    producer.send("engagement.events", key=values[0][0], value=values[0][1]).get(10)  # warm metadata
    started = time.perf_counter()
    for _ in range(rounds):
        for key, value in values:
            producer.send("engagement.events", key=key, value=value)
        producer.flush()
    elapsed = time.perf_counter() - started
    producer.close()
    return rounds * len(values) / elapsed


def hey(url: str, body: Path, token: str, args: list[str]) -> dict:
    command = ["hey", *args, "-m", "POST", "-T", "application/json", "-H", f"Authorization: Bearer {token}",
               "-D", str(body), url]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    pct = {int(p): float(v) * 1000 for p, v in re.findall(r"(\d+)%+ in ([\d.]+) secs", out)}
    codes = dict(re.findall(r"\[(\d{3})\]\s+(\d+) responses", out))
    return {"rps": rps, "p50": pct.get(50), "p99": pct.get(99), "codes": codes}


def ensure_hey() -> None:
    if shutil.which("hey"):
        return
    if os.geteuid() != 0:
        sys.exit("this benchmark needs Debian's `hey`: apt-get install hey")
    console.print("installing hey (Debian) …")
    subprocess.run(["apt-get", "install", "-y", "-qq", "hey"], check=True, capture_output=True)


def main() -> None:
    ensure_hey()
    OUT.mkdir(exist_ok=True)
    broker, bootstrap = start_broker()
    ensure_topics(bootstrap)
    port = free_port()
    env = dict(os.environ, KAFKA_BOOTSTRAP=bootstrap, JWT_SECRET=SECRET, INGEST_PORT=str(port), LOG_LEVEL="WARNING")
    server = subprocess.Popen([sys.executable, "-m", "services.ingest"], env=env)
    try:
        wait_for_port(port, timeout_s=60)
        token = mint_token(SECRET, "bench", "admin")
        url = f"http://127.0.0.1:{port}/v1/events"
        enrol(f"http://127.0.0.1:{port}", token, sorted({e["member_id"] for e in sample_events(500)}))
        with tempfile.TemporaryDirectory() as tmp:
            batch_file, single_file = Path(tmp) / "batch.json", Path(tmp) / "single.json"
            batch_file.write_text(json.dumps(sample_events(500)))
            single_file.write_text(json.dumps(sample_events(1)[0]))
            with console.status("warm-up …"):
                hey(url, batch_file, token, ["-n", "40", "-c", "4"])
            raws, batches = [], []
            for round_ in range(1, 4):
                with console.status(f"round {round_}/3: bare producer …"):
                    raws.append(bare_producer_rate(bootstrap, sample_events(500), rounds=40))
                with console.status(f"round {round_}/3: 500-event requests, 10 s …"):
                    batches.append(hey(url, batch_file, token, ["-z", "10s", "-c", "4"]))
            raw = statistics.median(raws)
            batched = sorted(batches, key=lambda r: r["rps"])[1]
            with console.status("single events at 1,000 req/s, 20 s …"):
                single = hey(url, single_file, token, ["-z", "20s", "-c", "20", "-q", "50"])
        batched_eps = batched["rps"] * 500
        rows = [
            ("bare kafka-python producer (acks=all, idempotent)", f"{raw:,.0f} events/s", "raw limit", ""),
            ("ingest, 500-event requests", f"{batched_eps:,.0f} events/s ({batched['rps']:.1f} req/s)",
             "≥ 70 % of raw", f"{batched_eps / raw:.0%} of raw"),
            ("  latency per 500-event request", f"p50 {batched['p50']:.1f} ms, p99 {batched['p99']:.1f} ms", "", ""),
            ("ingest, single events at 1,000 req/s", f"{single['rps']:,.0f} req/s",
             "p99 < 50 ms", f"p50 {single['p50']:.1f} ms, p99 {single['p99']:.1f} ms"),
            ("  status codes", f"batched {batched['codes']}, single {single['codes']}", "all 202", ""),
        ]
        table = Table(title=f"Ingest benchmark ({os.cpu_count()} cores, one uvicorn worker, tansu memory broker)")
        for column in ("measure", "result", "target", "ratio / detail"):
            table.add_column(column)
        for row in rows:
            table.add_row(*row)
        console.print(table)
        lines = ["| measure | result | target | ratio / detail |", "|---|---|---|---|"]
        lines += [f"| {' | '.join(r)} |" for r in rows]
        (OUT / "ingest.md").write_text("\n".join(lines) + "\n")
    finally:
        server.terminate()
        server.wait(10)
        broker.terminate()


if __name__ == "__main__":
    main()
