"""Every Prometheus series of the metrics service (stream processing, ClickHouse sink, rollup, API
answers), registered at import so they are exported from zero (also by an API-only replica)."""

from prometheus_client import Counter, Gauge

from contracts.topics import CLOCK_TICKS, ENGAGEMENT_EVENTS, MEMBERS

STREAM_EVENTS = Counter("metrics_stream_records_total", "Records applied to the member-day state", ["topic"])
DAYS_PUBLISHED = Counter("metrics_engagement_daily_published_total", "engagement.day records published")
EVENT_CONFLICTS = Counter(
    "metrics_stream_event_conflicts_total",
    "Later deliveries of a (member, event id) with content differing from the first (never folded)",
)
# Members retired after their follow-up ended (state.py `retire`, docs/scale.md "Retiring ended members").
RETIRED_MEMBERS = Counter("metrics_stream_members_retired_total",
                          "Members dropped from the member-day state after their follow-up ended")
RETIRED_RECORDS = Counter("metrics_stream_retired_member_records_total",
                          "Records of retired members read and ignored (their published days are final)")
UNPUBLISHED = Gauge("metrics_stream_unpublished",
                    "Member-day changes applied but not yet acknowledged on engagement.daily (0: all published)")
DEAD_LETTERS = Counter("metrics_dead_letters_total", "Client events dead-lettered", ["reason"])
for _t in (ENGAGEMENT_EVENTS.name, MEMBERS.name, CLOCK_TICKS.name):
    STREAM_EVENTS.labels(_t)
DEAD_LETTERS.labels("unknown_member")
# Events waiting for their member's enrolment, bounded (services.common.waiting, docs/security.md).
WAITING_EVENTS = Gauge("metrics_waiting_events", "Events held for members not enrolled yet")
WAITING_DROPPED = Counter("metrics_waiting_events_dropped_total",
                          "Events of members not enrolled yet dropped by a bound or expired", ["reason"])
for _reason in ("member_full", "total_full", "expired"):
    WAITING_DROPPED.labels(_reason)

# The ClickHouse sink (sink.py).
SINK_ROWS = Counter("metrics_sink_rows_total", "Rows written to ClickHouse by the sink", ["table"])
SINK_INVALID = Counter("metrics_sink_invalid_records_total", "Kafka records the sink could not read", ["topic"])
SINK_FAILURES = Counter("metrics_sink_write_failures_total", "ClickHouse writes that failed and were retried")
SINK_ERASURES = Counter("metrics_sink_erasures_total", "member.erased records applied to ClickHouse (rows re-keyed)")
SINK_BATCH_SIZE = Gauge("metrics_sink_last_batch_records", "Records in the last batch written")
SINK_LAST_WRITE = Gauge("metrics_sink_last_write_timestamp_seconds", "When the sink last wrote a batch")
# 1 in the one process that runs the sink, 0 in API-only replicas: alerts see a missing or a second sink.
SINK_RUNNING = Gauge("metrics_sink_running", "1 while this process runs the ClickHouse sink")
# Freshness, computed when scraped (0 in a process that does not run the sink): the alerts compare them
# with minutes, so a stalled sink or a stopped clock shows although nothing new is written.
SINK_SINCE_WRITE = Gauge("metrics_sink_seconds_since_write", "Seconds since the sink last wrote a batch to ClickHouse")
TICK_AGE = Gauge("metrics_clock_tick_age_seconds",
                 "Wall-clock age of the latest clock.tick written to ClickHouse (wall clock mode: about a minute)")
SINK_LAG = Gauge("metrics_sink_lag_records", "Records on the log the sink has not written yet (log end - position)",
                 ["topic"])
for _topic in ("engagement.events", "members", "clock.ticks"):
    SINK_INVALID.labels(_topic)

# The member_days rollup (rollup.py).
ROLLUP_REFRESHES = Counter("metrics_rollup_refreshes_total", "member_days rollup refreshes (all cohorts)")
ROLLUP_SECONDS = Gauge("metrics_rollup_last_refresh_seconds", "Duration of the last rollup refresh")

# API answers (answers.py).
ANSWERS = Counter("metrics_api_answers_total", "API answers by source", ["source"])
for _source in ("cache", "computed"):
    ANSWERS.labels(_source)
