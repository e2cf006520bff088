"""Consumer lag published by each service itself: log end − applied offset, per partition.

Operators must see lag without trusting consumer groups: the log tails read group-less, the metrics
sink stores its positions in ClickHouse, and a restarted faust worker may join a rebalancing group.
So every consumer reports the offset it has *applied* (folded into state, or decided on and
published) and the log end it last saw; Prometheus alerts and the Grafana lag panels use
`carecircle_consumer_lag_records` (docs/scale.md, "Lag").

Labels: `service`, `consumer` (`log-tail`, `stream`, `sink`), `topic`, `partition`. A partition that
moves to another worker is forgotten here (its series disappears) so two workers never both report it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from .telemetry import APPLIED, LAG


def lag_of(log_end: int, applied: int) -> int:
    """Never negative: tansu reports end offsets one batch short, so `applied` can pass the reported end."""
    return max(log_end - applied, 0)


class LagReporter:
    """The applied offsets and log ends of one consumer of one service, mirrored into the gauges."""

    def __init__(self, service: str, consumer: str) -> None:
        self.service, self.consumer = service, consumer
        self.applied: dict[tuple[str, int], int] = {}
        self.log_end: dict[tuple[str, int], int] = {}

    def _labels(self, topic: str, partition: int) -> tuple[str, str, str, str]:
        return self.service, self.consumer, topic, str(partition)

    def record_applied(self, topic: str, partition: int, next_offset: int) -> None:
        key = (topic, partition)
        if next_offset <= self.applied.get(key, -1):
            return  # a re-delivered older record moves nothing back
        self.applied[key] = next_offset
        APPLIED.labels(*self._labels(topic, partition)).set(next_offset)
        self._refresh(key)

    def record_log_end(self, ends: Mapping[tuple[str, int], int]) -> None:
        for key, end in ends.items():
            self.log_end[key] = max(end, self.log_end.get(key, 0))
            self._refresh(key)

    def _refresh(self, key: tuple[str, int]) -> None:
        end = max(self.log_end.get(key, 0), self.applied.get(key, 0))
        LAG.labels(*self._labels(*key)).set(lag_of(end, self.applied.get(key, 0)))

    def forget(self, keys: Iterable[tuple[str, int]]) -> None:
        """Partitions this process no longer owns (a rebalance moved them)."""
        for key in list(keys):
            self.applied.pop(key, None)
            self.log_end.pop(key, None)
            for gauge in (LAG, APPLIED):
                try:
                    gauge.remove(*self._labels(*key))
                except KeyError:
                    pass

    def lag(self) -> dict[tuple[str, int], int]:
        keys = self.applied.keys() | self.log_end.keys()
        return {key: lag_of(max(self.log_end.get(key, 0), self.applied.get(key, 0)), self.applied.get(key, 0))
                for key in keys}


def report_faust_lag(app, reporter: LagReporter, interval_s: float = 5.0) -> None:
    """Every `interval_s`, publish the lag of the partitions this faust worker owns (log end from the
    consumer's high watermarks) and forget those a rebalance took away. The agents call
    `reporter.record_applied` once a record is handled to the end."""

    @app.timer(interval_s)
    async def publish_lag() -> None:
        owned = {(tp.topic, tp.partition): tp for tp in app.consumer.assignment()}
        reporter.forget([key for key in reporter.applied.keys() | reporter.log_end.keys() if key not in owned])
        # Until a partition's first record, its applied offset is where the group resumed it (faust
        # keeps the last committed offset per partition; it has no public accessor).
        committed = getattr(app.consumer, "_committed_offset", {})
        ends = {}
        for key, tp in owned.items():
            if key not in reporter.applied and committed.get(tp) is not None:
                reporter.record_applied(key[0], key[1], committed[tp] + 1)
            highwater = app.consumer.highwater(tp)
            if highwater is not None and highwater >= 0:
                ends[key] = highwater
        reporter.record_log_end(ends)
