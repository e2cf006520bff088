"""Worker processes of the stream services for the scale-out tests, and the waits on their own gauges."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor

import httpx
from kafka import KafkaConsumer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from services.common.broker import free_port
from testsupport.broker import ConsumedRecord, ServiceProcess

PORT_ENV = {"notifier": "NOTIFIER_PORT", "survey": "SURVEY_PORT", "metrics": "METRICS_PORT"}


def stream_settings(receiver_url: str) -> dict[str, dict[str, str]]:
    """Each stream service's settings in the scale tests: stable groups, short idle waits, the test's
    push gateway and quick retries (so a run decides and delivers in seconds)."""
    return {
        "notifier": {"NOTIFIER_GROUP_ID": "carecircle-notifier", "NOTIFIER_REBUILD_IDLE_S": "0.3",
                     "NOTIFIER_PUSH_GATEWAY_URL": receiver_url, "NOTIFIER_REMINDER_GRACE_MINUTES": "300",
                     "NOTIFIER_RETRY_INITIAL_S": "0.05", "NOTIFIER_RETRY_MAX_S": "0.2",
                     "NOTIFIER_RETRY_ATTEMPTS": "2", "NOTIFIER_COMMIT_INTERVAL_S": "1"},
        "survey": {"SURVEY_GROUP_ID": "carecircle-survey", "SURVEY_REBUILD_IDLE_S": "0.3"},
        # the scaled stream role (the metrics-stream Deployment): no sink, no ClickHouse
        "metrics": {"METRICS_GROUP_ID": "carecircle-metrics", "METRICS_RUN_SINK": "false",
                    "METRICS_RUN_STREAM": "true"},
    }


def worker(service: str, bootstrap: str, jwt_secret: str, tmp, index: int, extra: Mapping[str, str]) -> ServiceProcess:
    port = free_port()
    env = {**os.environ, "KAFKA_BOOTSTRAP": bootstrap, "JWT_SECRET": jwt_secret, PORT_ENV[service]: str(port),
           "FAUST_DATADIR": str(tmp / f"faust-{service}-{index}"), "LOG_LEVEL": "WARNING", **extra}
    env.pop("PORT", None)
    return ServiceProcess(service, env, port, log_path=str(tmp / f"{service}-{index}.log"))


def start_together(workers: list[ServiceProcess]) -> None:
    """Start processes side by side and wait until each is ready (a start is mostly waiting)."""
    with ThreadPoolExecutor(max(len(workers), 1)) as pool:
        list(pool.map(lambda w: w.start(ready_timeout_s=240), workers))


def applied_offsets(url: str) -> dict[tuple[str, str, int], int]:
    """(consumer, topic, partition) → applied offset, from one worker's /metrics."""
    text = httpx.get(f"{url}/metrics", timeout=5).text
    out = {}
    for family in text_string_to_metric_families(text):
        if family.name == "carecircle_consumer_applied_offset":
            for sample in family.samples:
                labels = sample.labels
                out[(labels["consumer"], labels["topic"], int(labels["partition"]))] = int(sample.value)
    return out


def wait_applied(workers: Iterable[ServiceProcess], written: Mapping[tuple[str, int], int], consumer: str,
                 topics: Iterable[str], every_worker: bool, timeout_s: float = 90.0) -> None:
    """Until the records written to `topics` are applied by `consumer`: by every live worker (a log tail
    folds every partition) or, for a faust stream, by whichever worker owns each partition."""
    live = [w for w in workers if w.process is not None and w.process.poll() is None]
    wanted = {key: end for key, end in written.items() if key[0] in set(topics)}
    deadline = time.monotonic() + timeout_s
    while True:
        seen = []
        for w in live:
            try:
                seen.append(applied_offsets(w.url))
            except httpx.HTTPError:
                seen.append({})
        missing = []
        for (topic, partition), end in wanted.items():
            values = [s.get((consumer, topic, partition), 0) for s in seen]
            got = min(values) if every_worker else max(values, default=0)
            if got < end:
                missing.append((topic, partition, got, end))
        if not missing:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{consumer} never applied everything: {missing[:6]}")
        time.sleep(0.2)


def wait_published(workers: Iterable[ServiceProcess], timeout_s: float = 60.0) -> None:
    """Until no live metrics stream worker holds a member-day change that engagement.daily has not
    acknowledged (`metrics_stream_unpublished` 0); call once every record is applied."""
    live = [w for w in workers if w.process is not None and w.process.poll() is None]
    deadline = time.monotonic() + timeout_s
    while True:
        waiting = []
        for w in live:
            for family in text_string_to_metric_families(httpx.get(f"{w.url}/metrics", timeout=5).text):
                if family.name == "metrics_stream_unpublished":
                    waiting += [w.url for sample in family.samples if sample.value]
        if not waiting:
            return
        assert time.monotonic() < deadline, f"member-days never published by {waiting}"
        time.sleep(0.2)


def read_settled(bootstrap: str, topic: str, idle_s: float = 1.0, timeout_s: float = 120.0) -> list:
    """Every record of a topic nobody writes to any more. `read_topic` stops at its first quiet spell,
    which on a loaded machine can come before the first fetch; this one first reads up to the reported
    end offsets (tansu's are one batch short), then until `idle_s` passes with nothing new."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        records: list[ConsumedRecord] = []
        deadline, last_new = time.monotonic() + timeout_s, time.monotonic()
        while True:
            assert time.monotonic() < deadline, f"{topic} not read within {timeout_s} s"
            batches = consumer.poll(timeout_ms=200)
            for tp, batch in batches.items():
                records += [ConsumedRecord(tp.partition, r.offset, r.key, r.value) for r in batch]
            if batches:
                last_new = time.monotonic()
            elif (all(consumer.position(tp) >= end for tp, end in ends.items())
                  and time.monotonic() - last_new >= idle_s):
                return sorted(records, key=lambda r: (r.partition, r.offset))
    finally:
        consumer.close()
