"""Prometheus series of the stream processing, registered at import so they are exported from zero
(also by an API-only replica)."""

from prometheus_client import Counter

from contracts.topics import CLOCK_TICKS, ENGAGEMENT_EVENTS, MEMBERS

STREAM_EVENTS = Counter("metrics_stream_records_total", "Records applied to the member-day state", ["topic"])
DAYS_PUBLISHED = Counter("metrics_engagement_daily_published_total", "engagement.day records published")
EVENT_CONFLICTS = Counter("metrics_stream_event_conflicts_total",
                          "Later deliveries of a (member, event id) with content differing from the first (never folded)")
DEAD_LETTERS = Counter("metrics_dead_letters_total", "Client events dead-lettered", ["reason"])
for _t in (ENGAGEMENT_EVENTS.name, MEMBERS.name, CLOCK_TICKS.name):
    STREAM_EVENTS.labels(_t)
DEAD_LETTERS.labels("unknown_member")
