"""Prometheus series of the notifier (names used by deploy/prometheus/alerts.yml)."""

from prometheus_client import Counter, Gauge, Histogram

ALERTS_OPEN = Gauge("notifier_alerts_open", "Unresolved nurse alerts, by cohort", ["cohort"])
ALERTS_OVERDUE = Gauge("notifier_alerts_overdue",
                       "Unacknowledged alerts past their deadline: first = escalation due, escalated = escalated and "
                       "still unacknowledged", ["level"])
TIME_TO_ACK = Histogram("notifier_time_to_acknowledge_seconds", "Alert raised → acknowledged (simulated time)",
                        buckets=(900, 3600, 4 * 3600, 8 * 3600, 24 * 3600, 48 * 3600, 72 * 3600, 168 * 3600))
ALERT_EVENTS = Counter("notifier_alert_events_total", "Alert lifecycle events published by this process", ["type"])
DELIVERIES = Counter("notifier_deliveries_total", "Delivery outcomes, by channel", ["channel", "outcome"])
DELIVERY_RETRIES = Counter("notifier_delivery_retries_total", "Failed delivery attempts that were retried", ["channel"])
DEDUPLICATED = Counter("notifier_deliveries_deduplicated_total",
                       "Requests not sent because their dedup_key was already delivered or dead-lettered", ["channel"])
REMINDERS = Counter("notifier_reminders_requested_total", "Reminders requested")
REMINDERS_SKIPPED = Counter("notifier_reminders_skipped_total",
                            "Reminder slots recorded as notification.skipped instead of sent", ["reason"])
for _reason in ("past_grace", "superseded"):
    REMINDERS_SKIPPED.labels(_reason)
RECORDS = Counter(
    "notifier_log_records_total", "Records folded by the state tail, by topic and result", ["topic", "result"]
)
# Events waiting for their member's enrolment, bounded (services.common.waiting, docs/security.md).
WAITING_EVENTS = Gauge("notifier_waiting_events", "Events held for members not enrolled yet")
WAITING_DROPPED = Counter("notifier_waiting_events_dropped_total",
                          "Events of members not enrolled yet dropped by a bound or expired", ["reason"])
for _reason in ("member_full", "total_full", "expired"):
    WAITING_DROPPED.labels(_reason)
