"""Prometheus series shared by every service (declared once here; each service's own are in its telemetry.py)."""

from prometheus_client import Gauge

# Consumer lag each service publishes itself (services/common/lag.py, docs/scale.md "Lag").
LAG = Gauge("carecircle_consumer_lag_records",
            "Records between the log end and the offset this process has applied (per partition)",
            ["service", "consumer", "topic", "partition"])
APPLIED = Gauge("carecircle_consumer_applied_offset",
                "Next offset to apply: every record before it is folded or decided (per partition)",
                ["service", "consumer", "topic", "partition"])
