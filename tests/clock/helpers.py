"""Shared by the clock's end-to-end tests: Prometheus samples of a running service and the ticks on
`clock.ticks`."""

from __future__ import annotations

import json
import time
from collections import defaultdict
from datetime import datetime

import httpx

from testsupport.broker import read_topic


def samples(url: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """Every sample of metric `name` at `url`/metrics, keyed by its sorted labels."""
    out = {}
    for line in httpx.get(url + "/metrics", timeout=5).text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        head, value = line.rsplit(" ", 1)
        labels = ()
        if "{" in head:
            body = head[head.index("{") + 1:head.rindex("}")]
            labels = tuple(sorted(tuple(part.split("=", 1)) for part in body.split(",") if part))
            labels = tuple((k, v.strip('"')) for k, v in labels)
        out[labels] = float(value)
    return out


def sample(url: str, name: str, **labels: str) -> float:
    return samples(url, name).get(tuple(sorted(labels.items())), 0.0)


def ticks_on_log(bootstrap: str) -> dict[int, list[datetime]]:
    """partition → every tick's `now` in log order."""
    out: dict[int, list[datetime]] = defaultdict(list)
    for record in read_topic(bootstrap, "clock.ticks", expect_at_least=1):
        out[record.partition].append(datetime.fromisoformat(json.loads(record.value)["now"]))
    return dict(out)


def wait_for(condition, timeout_s: float, what: str, pause_s: float = 0.3):
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(pause_s)
