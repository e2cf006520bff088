"""The topic catalogue: the one list of Kafka topics, their keys, value contracts and retention.

`make run` creates these on the local broker; `deploy/k8s` turns them into Strimzi KafkaTopics.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MEMBER_PARTITIONS = 6  # every member-keyed topic is co-partitioned: same count, same key


@dataclass(frozen=True)
class Topic:
    name: str
    key: str
    values: tuple[str, ...]
    description: str
    partitions: int = MEMBER_PARTITIONS
    compacted: bool = False
    retention_ms: int = -1  # -1 = keep forever: the log is the system of record
    configs: dict[str, str] = field(default_factory=dict)

    def kafka_configs(self) -> dict[str, str]:
        return {
            "cleanup.policy": "compact" if self.compacted else "delete",
            "retention.ms": str(self.retention_ms),
            **self.configs,
        }


ENGAGEMENT_EVENTS = Topic(
    "engagement.events", "member_id", ("login", "post", "checkin", "meditation_play"),
    "Every client event accepted by ingest, with received_at added",
)
ENGAGEMENT_DAILY = Topic(
    "engagement.daily", "member_id|YYYY-MM-DD", ("engagement.day",),
    "Latest state of each member-day (compacted)", compacted=True,
)
MEMBERS = Topic(
    "members", "member_id (cohort settings: cohort:<cohort>)",
    ("cohort.configured", "member.enrolled", "member.withdrawn", "member.timezone_changed"),
    "Cohort settings, enrolments, withdrawals and time-zone changes",
)
ALERTS = Topic("alerts", "member_id", ("alert.*", "call.logged"), "Nurse alert lifecycle and call outcomes")
NOTIFICATIONS_OUTBOUND = Topic(
    "notifications.outbound", "member_id", ("notification.*",), "Reminders, invitations and nurse notices to deliver"
)
SURVEYS = Topic("surveys", "member_id", ("survey.*",), "Questionnaire schedule steps and responses")
CLOCK_TICKS = Topic(
    "clock.ticks", "partition index", ("clock.tick",),
    "Simulated or real time; each tick is written to every partition", retention_ms=7 * 24 * 3600 * 1000,
)
ENGAGEMENT_EVENTS_DLQ = Topic(
    "engagement.events.dlq", "member_id", ("dead_letter",), "Events that could not be applied, with the reason"
)
NOTIFICATIONS_DLQ = Topic(
    "notifications.dlq", "member_id", ("dead_letter",), "Deliveries that failed after the last retry, with the reason"
)

AUDIT = Topic(
    "audit", "actor (staff id)", ("staff.access",),
    "Every staff read of member-level data: who, what, when (never the data); kept for good",
)

CATALOGUE: tuple[Topic, ...] = (
    ENGAGEMENT_EVENTS, ENGAGEMENT_DAILY, MEMBERS, ALERTS, NOTIFICATIONS_OUTBOUND, SURVEYS, CLOCK_TICKS,
    ENGAGEMENT_EVENTS_DLQ, NOTIFICATIONS_DLQ, AUDIT,
)
BY_NAME = {t.name: t for t in CATALOGUE}
