"""The platform as `make run` starts it — `python -m services.<name>` subprocesses on FREE ports against a
broker of its own — for end-to-end tests, the benchmarks and the load test (`running(...)`)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from services.common.broker import free_port, start_broker
from services.common.kafka import ensure_topics
from testsupport.broker import wait_until_ready

REPO = Path(__file__).resolve().parents[1]


@dataclass
class Stack:
    bootstrap: str
    secret: str
    tmp: Path = Path(".")
    log_level: str = "WARNING"
    clock_mode: str = "simulated"
    broker_pid: int | None = None
    urls: dict[str, str] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    def start(self, name: str, **env: str) -> str:
        tmp = self.tmp
        port = free_port()
        prefix = name.upper()
        # The simulator and the benchmarks move time with POST /v1/admin/clock: simulated mode unless
        # the caller asks for another (a wall-mode stack passes CLOCK_MODE="wall").
        environment = dict(os.environ, KAFKA_BOOTSTRAP=self.bootstrap, JWT_SECRET=self.secret, LOG_LEVEL=self.log_level,
                           FAUST_DATADIR=str(tmp / f"faust-{name}"), CLOCK_MODE=self.clock_mode,
                           **{f"{prefix}_PORT": str(port)}, **env)
        environment.pop("PORT", None)
        log = open(tmp / f"{name}.log", "wb")
        self.processes[name] = subprocess.Popen([sys.executable, "-m", f"services.{name}"], cwd=REPO, env=environment,
                                                stdout=log, stderr=subprocess.STDOUT)
        self.urls[name] = f"http://127.0.0.1:{port}"
        return self.urls[name]

    def wait_ready(self, timeout_s: float = 90.0) -> None:
        deadline = time.monotonic() + timeout_s
        for name, url in self.urls.items():
            wait_until_ready(url, deadline, name, self.processes[name].poll)

    def pids(self) -> dict[str, int]:
        return {name: p.pid for name, p in self.processes.items()}

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
def running(jwt_secret: str, tmp: Path, services: dict[str, dict[str, str]], log_level: str = "WARNING",
            clock_mode: str = "simulated", ready_timeout_s: float = 90.0):
    """A broker of its own plus `services` ({name: extra env}) as subprocesses, ready."""
    broker, bootstrap = start_broker()
    ensure_topics(bootstrap)
    s = Stack(bootstrap, jwt_secret, tmp=tmp, log_level=log_level, clock_mode=clock_mode)
    s.broker_pid = broker.pid
    try:
        for name, env in services.items():
            s.start(name, **env)
        s.wait_ready(ready_timeout_s)
        yield s
    finally:
        s.stop()
        broker.terminate()
        broker.wait(10)
