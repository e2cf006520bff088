"""Prometheus series of the clock process (names used by docs/services/clock.md)."""

from prometheus_client import Counter, Gauge

WRITTEN = Counter("clock_ticks_written_total", "Ticks written (each to every partition of clock.ticks)")
WRITE_FAILURES = Counter("clock_tick_write_failures_total", "Tick writes the broker did not acknowledge")
LAST_WRITTEN = Gauge("clock_last_written_tick_timestamp_seconds", "The latest tick this process wrote (Unix s)")
