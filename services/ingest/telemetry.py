"""Prometheus series of the ingest service."""

from prometheus_client import Counter, Gauge, Histogram

ACCEPTED = Counter("ingest_events_accepted_total", "Events acknowledged by the broker", ["type"])
REJECTED = Counter("ingest_events_rejected_total", "Events refused, by first error type", ["reason"])
REQUESTS_REFUSED = Counter("ingest_requests_refused_total", "Whole requests refused", ["status"])
PRODUCE_SECONDS = Histogram(
    "ingest_produce_seconds", "Time from send to broker acknowledgement of a request's events",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
DIRECTORY_RECORDS = Counter(
    "ingest_directory_records_total", "Records of members / clock.ticks folded into the directory", ["topic", "outcome"]
)
DIRECTORY_MEMBERS = Gauge("ingest_directory_members", "Members the directory knows (ever enrolled)")
