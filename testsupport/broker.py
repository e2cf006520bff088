"""Helpers for tests that run against the real broker (no fakes)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import httpx
from kafka import KafkaConsumer, TopicPartition


@dataclass(frozen=True)
class ConsumedRecord:
    partition: int
    offset: int
    key: bytes | None
    value: bytes


def read_topic(bootstrap: str, topic: str, expect_at_least: int = 0, timeout_s: float = 15.0,
               idle_s: float = 0.7) -> list[ConsumedRecord]:
    """Every record of `topic` from offset 0, without a consumer group (joins are slow on tansu).

    tansu's ListOffsets answers the base offset of the last batch + 1 instead of the high watermark,
    so the end offsets read first only say that the last batch has begun to arrive. A fetch returns
    whole batches, so once every partition is past its end offset, the first poll that brings nothing
    more ends the read; otherwise `idle_s` with no new record does. Either way, not before
    `expect_at_least` records are in, and never after `timeout_s`."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions) if partitions else {}
        records: list[ConsumedRecord] = []
        deadline, last_new = time.monotonic() + timeout_s, time.monotonic()
        while time.monotonic() < deadline:
            batches = consumer.poll(timeout_ms=100)
            for tp, batch in batches.items():
                records += [ConsumedRecord(tp.partition, r.offset, r.key, r.value) for r in batch]
            if batches:
                last_new = time.monotonic()
            elif len(records) >= expect_at_least and (
                    time.monotonic() - last_new >= idle_s or all(consumer.position(tp) >= ends[tp] for tp in partitions)
            ):
                break
        return sorted(records, key=lambda r: (r.partition, r.offset))
    finally:
        consumer.close()


def wait_until_ready(url: str, deadline: float, name: str, exit_code: Callable[[], int | None] = lambda: None,
                     get: Callable[..., httpx.Response] = partial(httpx.get, timeout=2), pause_s: float = 0.3) -> None:
    """Poll `{url}/readyz` until it answers 200: TimeoutError once `time.monotonic()` passes `deadline`,
    RuntimeError as soon as `exit_code()` reports that the process behind it has exited."""
    while True:
        code = exit_code()
        if code is not None:
            raise RuntimeError(f"{name} exited with {code} before it was ready")
        try:
            if get(f"{url.rstrip('/')}/readyz").status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{name} not ready in time")
        time.sleep(pause_s)


class ServiceProcess:
    """`python -m services.<name>` as a real process (for crash tests: SIGKILL and restart)."""

    def __init__(self, name: str, env: dict[str, str], port: int, log_path: str | None = None) -> None:
        self.name, self.env, self.port, self.log_path = name, env, port, log_path
        self.url = f"http://127.0.0.1:{port}"
        self.process: subprocess.Popen | None = None

    def start(self, ready_timeout_s: float = 90.0) -> "ServiceProcess":
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        self.process = subprocess.Popen([sys.executable, "-m", f"services.{self.name}"], env=self.env,
                                        stdout=log, stderr=subprocess.STDOUT)
        wait_until_ready(self.url, time.monotonic() + ready_timeout_s, self.name, self.process.poll, pause_s=0.2)
        return self

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks, no final commits."""
        process = self.process  # may be called from a timer thread while a restart is under way
        if process and process.poll() is None:
            process.send_signal(signal.SIGKILL)
            process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()
