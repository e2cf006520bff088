"""Prometheus series declared once for every service (the HTTP series live in web.py; each service's
own are in its telemetry.py): the consumer lag each service publishes itself (services/common/lag.py,
docs/scale.md "Lag") and the clock series every `clock.ticks` consumer exports through
`services.common.ticks` (docs/clock.md), and the snapshot series of the services that restart from a
snapshot (services/common/snapshots.py, docs/scale.md "Snapshots and restarts")."""

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

SNAPSHOT_FALLBACKS = Counter("carecircle_snapshot_fallbacks_total",
                             "Starts that replayed the log from offset 0 instead of restoring a snapshot, by reason "
                             "(missing, corrupt, incompatible, unreadable)", ["service", "reason"])
SNAPSHOTS_WRITTEN = Counter("carecircle_snapshots_written_total", "Snapshots written to the snapshot topic",
                            ["service"])
SNAPSHOT_BYTES = Gauge("carecircle_snapshot_bytes", "Size of the latest snapshot written or restored", ["service"])
SNAPSHOT_RESTORED_OFFSETS = Gauge("carecircle_snapshot_restored_offsets_total",
                                  "Sum of the next offsets a restored snapshot covered (0: full replay)", ["service"])
