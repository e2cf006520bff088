"""`python -m bench.metrics_workers [events]`: events/s of 1, 2 and 3 metrics STREAM workers
(`python -m services.metrics` with `METRICS_RUN_SINK=false`: the scaled `metrics-stream` role), each
count on a fresh broker holding the same `events` client events (produced before the workers start).

The workers start side by side in one consumer group; the time runs from their start until every
partition of `engagement.events` is applied by its owner (the `carecircle_consumer_applied_offset`
gauges, the same condition tests/scale waits on), so group joins and rebalances are included. The
ratio to one worker shows what the group split buys on THIS machine: with 2 cores shared by every
process, more workers mostly share the same CPU. Writes bench/out/metrics_workers.md.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time

import httpx
from kafka import KafkaConsumer, TopicPartition
from rich.console import Console

from services.common.broker import free_port
from tests.scale.workers import applied_offsets

from .metrics_stream import broker_with_events

console = Console()
SECRET = "bench-secret-0123456789abcdef0123456789"


def log_ends(bootstrap: str) -> dict[tuple[str, int], int]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        tps = [TopicPartition("engagement.events", p) for p in consumer.partitions_for_topic("engagement.events")]
        return {(tp.topic, tp.partition): end for tp, end in consumer.end_offsets(tps).items()}
    finally:
        consumer.close()


def run(bootstrap: str, workers: int, events: int) -> tuple[float, float]:
    """Seconds from the workers' start, and from their first applied event, until every event is applied."""
    ends = log_ends(bootstrap)  # tansu reports ends one batch short: wait for at least these, then for the count
    with tempfile.TemporaryDirectory(prefix="bench-workers-") as tmp:
        processes, urls = [], []
        started = time.perf_counter()
        for index in range(workers):
            port = free_port()
            env = {**os.environ, "KAFKA_BOOTSTRAP": bootstrap, "JWT_SECRET": SECRET, "AUTH_DEV": "1",
                   "METRICS_PORT": str(port), "METRICS_RUN_SINK": "false", "METRICS_RUN_STREAM": "true",
                   "METRICS_GROUP_ID": f"bench-{workers}", "FAUST_DATADIR": f"{tmp}/faust-{index}",
                   "LOG_LEVEL": "WARNING"}
            env.pop("PORT", None)
            log = open(f"{tmp}/worker-{index}.log", "wb")
            processes.append(subprocess.Popen([sys.executable, "-m", "services.metrics"], env=env, stdout=log,
                                              stderr=log))
            urls.append(f"http://127.0.0.1:{port}")
        try:
            deadline = time.monotonic() + 600
            first: float | None = None
            while time.monotonic() < deadline:
                seen = []
                for url in urls:
                    try:
                        seen.append(applied_offsets(url))
                    except httpx.HTTPError:
                        seen.append({})
                applied = {key: max((s.get(("stream", *key), 0) for s in seen), default=0) for key in ends}
                if first is None and sum(applied.values()) > 0:
                    first = time.perf_counter()
                if all(applied[key] >= end for key, end in ends.items()) and sum(applied.values()) >= events:
                    done = time.perf_counter()
                    return done - started, done - first
                time.sleep(0.1)
            raise SystemExit(f"{workers} workers did not apply {events:,} events in 10 minutes")
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                process.wait(30)


def main() -> None:
    events = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    rates: dict[int, tuple[float, float]] = {}
    for workers in (1, 2, 3):
        with broker_with_events(events) as bootstrap:
            total_s, steady_s = run(bootstrap, workers, events)
        rates[workers] = (events / total_s, events / steady_s)
        console.print(f"{workers} stream worker(s): {events:,} events in {total_s:.1f} s from the start, "
                      f"{steady_s:.1f} s from the first applied event")
    table = ["| stream workers | events/s, start → all applied | ratio | events/s, first → all applied | ratio |",
             "|---|---|---|---|---|"]
    table += [f"| {n} | {a:,.0f} | {a / rates[1][0]:.2f} | {b:,.0f} | {b / rates[1][1]:.2f} |"
              for n, (a, b) in rates.items()]
    text = (f"# metrics stream workers → events/s ({os.cpu_count()} cores, {events:,} events)\n\n"
            + "\n".join(table) + "\n\nEach row starts its workers together on a fresh broker holding the events. The "
            "first figure includes process start and group join; the second starts at the first applied event "
            "(rebalances while workers join are still inside it).\n")
    out = os.path.join(os.path.dirname(__file__), "out")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "metrics_workers.md"), "w") as f:
        f.write(text)
    console.print(text)


if __name__ == "__main__":
    main()
