"""Prometheus series declared once for every service (the HTTP series live in web.py; each service's
own are in its telemetry.py): the consumer lag each service publishes itself (services/common/lag.py,
docs/scale.md "Lag") and the clock series every `clock.ticks` consumer exports through
`services.common.ticks` (docs/clock.md)."""

from prometheus_client import Counter, Gauge

LAG = Gauge("carecircle_consumer_lag_records",
            "Records between the log end and the offset this process has applied (per partition)",
            ["service", "consumer", "topic", "partition"])
APPLIED = Gauge("carecircle_consumer_applied_offset",
                "Next offset to apply: every record before it is folded or decided (per partition)",
                ["service", "consumer", "topic", "partition"])

TICKS_APPLIED = Counter("clock_ticks_applied_total", "clock.tick records applied, by consuming part", ["consumer"])
TICKS_IGNORED = Counter("clock_ticks_ignored_total",
                        "clock.tick records not applied: duplicate_or_stale, future, skipped_to_newest",
                        ["consumer", "reason"])
TICK_APPLIED_AT = Gauge("clock_tick_applied_timestamp_seconds",
                        "Time (the tick's now, Unix seconds) of the latest clock.tick applied", ["consumer"])
CLOCK_MODE_INFO = Gauge("clock_mode_info", "1 for the clock mode this process runs in", ["mode"])
