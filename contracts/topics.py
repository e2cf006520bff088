"""The topic catalogue: the one list of Kafka topics, their keys, value contracts and retention.

`make run` creates these on the local broker; `deploy/k8s` turns them into Strimzi KafkaTopics.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

MEMBER_PARTITIONS = 6  # every member-keyed topic is co-partitioned: same count, same key
DAY_MS = 24 * 3600 * 1000
# Topics that hold message text (reminder and nurse-notice bodies) are kept for a finite time: long
# enough to replay a dead letter or audit a delivery, not for ever (docs/retention.md). Deployments
# change the durations with KAFKA_RETENTION_* settings (services.common.settings.RetentionSettings).
DEAD_LETTER_RETENTION_DAYS = 14
OUTBOUND_RETENTION_DAYS = 30
# Kafka deletes whole closed segments only; a segment rolls weekly by default, so a 14-day retention
# could keep text for 21 days. Daily segments keep the actual retention within a day of the setting.
TIMED_SEGMENT_MS = str(DAY_MS)


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

    @property
    def kept_forever(self) -> bool:
        return self.compacted or self.retention_ms < 0

    def retained_for(self, days: int) -> Topic:
        """This topic with a finite retention of `days` (and daily segments, so deletion follows it)."""
        if days < 1:
            raise ValueError(f"topic {self.name}: retention must be at least 1 day, not {days}")
        return replace(self, retention_ms=days * DAY_MS, configs={**self.configs, "segment.ms": TIMED_SEGMENT_MS})


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
    "notifications.outbound", "member_id", ("notification.*",), "Reminders, invitations and nurse notices to deliver",
).retained_for(OUTBOUND_RETENTION_DAYS)
SURVEYS = Topic("surveys", "member_id", ("survey.*",), "Questionnaire schedule steps and responses")
CLOCK_TICKS = Topic(
    "clock.ticks", "partition index", ("clock.tick",),
    "Simulated or real time; each tick is written to every partition", retention_ms=7 * 24 * 3600 * 1000,
)
ENGAGEMENT_EVENTS_DLQ = Topic(
    "engagement.events.dlq", "member_id", ("dead_letter",), "Events that could not be applied, with the reason"
).retained_for(DEAD_LETTER_RETENTION_DAYS)
NOTIFICATIONS_DLQ = Topic(
    "notifications.dlq", "member_id", ("dead_letter",), "Deliveries that failed after the last retry, with the reason"
).retained_for(DEAD_LETTER_RETENTION_DAYS)

AUDIT = Topic(
    "audit", "actor (staff id)", ("staff.access",),
    "Every staff read of member-level data: who, what, when (never the data); kept for good",
)

MEMBER_KEYS = Topic(
    "member.keys", "member_id", ("member.key",),
    "Per-member data keys for free text (compacted); a null value is the erasure tombstone (docs/erasure.md)",
    compacted=True, configs={"delete.retention.ms": str(24 * 3600 * 1000), "min.compaction.lag.ms": "0"},
)
MEMBER_ERASURES = Topic(
    "member.erasures", "member_id", ("member.erased",),
    "Erasures: every consumer re-keys the member to a random, unrecorded pseudonym (docs/erasure.md)",
)

# Snapshots of the stream services' state (docs/scale.md, "Snapshots and restarts"): one record per
# state scope, so compaction keeps the newest; hourly segments let compaction drop older snapshots (and
# the member ids they hold) soon. A snapshot is one record, hence the larger message limit.
MAX_SNAPSHOT_BYTES = 64 * 1024 * 1024
_SNAPSHOT_CONFIGS = {"max.message.bytes": str(MAX_SNAPSHOT_BYTES), "segment.ms": str(3600 * 1000),
                     "min.cleanable.dirty.ratio": "0.1", "delete.retention.ms": str(3600 * 1000)}


def snapshot_topic(service: str) -> Topic:
    return Topic(f"{service}.snapshots", "state scope (e.g. the service name)", ("service.snapshot",),
                 f"Snapshots of the {service} state with the input offsets they cover (compacted)",
                 partitions=1, compacted=True, configs=dict(_SNAPSHOT_CONFIGS))


NOTIFIER_SNAPSHOTS = snapshot_topic("notifier")
SURVEY_SNAPSHOTS = snapshot_topic("survey")
METRICS_SNAPSHOTS = snapshot_topic("metrics")

CATALOGUE: tuple[Topic, ...] = (
    ENGAGEMENT_EVENTS, ENGAGEMENT_DAILY, MEMBERS, ALERTS, NOTIFICATIONS_OUTBOUND, SURVEYS, CLOCK_TICKS,
    ENGAGEMENT_EVENTS_DLQ, NOTIFICATIONS_DLQ, AUDIT, MEMBER_KEYS, MEMBER_ERASURES,
    NOTIFIER_SNAPSHOTS, SURVEY_SNAPSHOTS, METRICS_SNAPSHOTS,
)
BY_NAME = {t.name: t for t in CATALOGUE}
DEAD_LETTER_TOPICS = tuple(t for t in CATALOGUE if t.name.endswith(".dlq"))


def with_retention(dead_letter_days: int, outbound_days: int,
                   catalogue: tuple[Topic, ...] = CATALOGUE) -> tuple[Topic, ...]:
    """The catalogue with a deployment's retention for the topics that hold message text. A replay checks
    a dead letter against the delivery records on notifications.outbound, so those are kept at least
    as long as the dead letters."""
    if outbound_days < dead_letter_days:
        raise ValueError(f"notifications.outbound retention ({outbound_days} d) must not be shorter than the "
                         f"dead-letter retention ({dead_letter_days} d): a replay checks the delivery record")
    out = []
    for topic in catalogue:
        if topic.name.endswith(".dlq"):
            topic = topic.retained_for(dead_letter_days)
        elif topic.name == NOTIFICATIONS_OUTBOUND.name:
            topic = topic.retained_for(outbound_days)
        out.append(topic)
    return tuple(out)
