"""The running stack for end-to-end simulator / locust tests: the real broker (tansu), and
`python -m services.ingest|metrics|notifier|survey` as subprocesses on free ports, exactly as `make run`
starts them (metrics owns a fresh chDB directory)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from services.common.broker import free_port, start_broker
from services.common.kafka import ensure_topics

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Stack:
    bootstrap: str
    secret: str
    tmp: Path = Path(".")
    urls: dict[str, str] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    def start(self, name: str, **env: str) -> str:
        tmp = self.tmp
        port = free_port()
        prefix = name.upper()
        environment = dict(os.environ, KAFKA_BOOTSTRAP=self.bootstrap, JWT_SECRET=self.secret, LOG_LEVEL="WARNING",
                           FAUST_DATADIR=str(tmp / f"faust-{name}"), **{f"{prefix}_PORT": str(port)}, **env)
        environment.pop("PORT", None)
        log = open(tmp / f"{name}.log", "wb")
        self.processes[name] = subprocess.Popen([sys.executable, "-m", f"services.{name}"], cwd=REPO, env=environment,
                                                stdout=log, stderr=subprocess.STDOUT)
        self.urls[name] = f"http://127.0.0.1:{port}"
        return self.urls[name]

    def wait_ready(self, timeout_s: float = 90.0) -> None:
        deadline = time.monotonic() + timeout_s
        for name, url in self.urls.items():
            while True:
                if self.processes[name].poll() is not None:
                    raise RuntimeError(f"{name} exited with {self.processes[name].returncode}")
                try:
                    if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{name} not ready after {timeout_s} s")
                time.sleep(0.3)

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


@contextmanager
def running(jwt_secret: str, tmp: Path, services: dict[str, dict[str, str]]):
    """A broker of its own plus `services` ({name: extra env}) as subprocesses, ready."""
    broker, bootstrap = start_broker()
    ensure_topics(bootstrap)
    s = Stack(bootstrap, jwt_secret, tmp=tmp)
    try:
        for name, env in services.items():
            s.start(name, **env)
        s.wait_ready()
        yield s
    finally:
        s.stop()
        broker.terminate()
        broker.wait(10)


@pytest.fixture(scope="module")
def stack(jwt_secret, tmp_path_factory):
    """Ingest + metrics (chDB in a fresh directory) against a broker of this test module alone."""
    tmp = tmp_path_factory.mktemp("stack")
    with running(jwt_secret, tmp, {"ingest": {},
                                   "metrics": {"CLICKHOUSE_URL": f"chdb://{tmp / 'chdb'}", "METRICS_SINK_POLL_MS": "50"}}) as s:
        yield s
