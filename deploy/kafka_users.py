"""Who may read and write which Kafka topic: one Strimzi `KafkaUser` per service (SCRAM-SHA-512 over TLS)
with `simple` ACLs, generated into deploy/k8s/base/kafka/users.yaml by `python -m deploy.generate`.

Writers are the point: the log is the system of record, so only the service that owns an event type may
append it (a compromised survey pod cannot forge an enrolment or a clock tick). Readers get only the
topics they consume. Each faust service also owns the topics and consumer groups whose names start with
its application id (changelogs, assignor topics), which faust creates at start-up.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

KAFKA_CLUSTER = "carecircle"
SECRET_SUFFIX = "-kafka"  # Strimzi writes the user's password into Secret <user>; the Deployments read it


@dataclass(frozen=True)
class Access:
    user: str
    writes: tuple[str, ...]
    reads: tuple[str, ...]
    prefix: str | None = None  # faust application id / consumer group prefix owned by this user
    why: str = ""


ACCESS: tuple[Access, ...] = (
    Access("ingest", writes=("engagement.events", "members", "member.keys", "member.erasures"),
           reads=("members", "clock.ticks", "member.erasures"),
           why="accepts app events, enrolment and erasure commands (writes members' data keys and their "
               "tombstones); tails members, clock.ticks and member.erasures for its guards"),
    Access("clock", writes=("clock.ticks",), reads=("clock.ticks",),
           why="the wall clock (CLOCK_MODE=wall): the only writer of ticks in production"),
    Access("metrics", writes=("engagement.daily", "engagement.events.dlq", "metrics.snapshots"),
           reads=("engagement.events", "engagement.daily", "members", "clock.ticks", "surveys", "alerts",
                  "metrics.snapshots", "audit", "member.erasures"),
           prefix="carecircle-metrics",
           why="metrics-worker (the sink, which stores the audit trail), metrics-stream and the rebuild Job"),
    Access("metrics-api", writes=("audit",), reads=(),
           why="the metrics API appends one audit record per staff read of the member list or the audit trail"
               " (docs/security.md); it reads nothing from Kafka"),
    Access("notifier", writes=("alerts", "notifications.outbound", "notifications.dlq", "notifier.snapshots", "audit"),
           reads=("engagement.events", "members", "clock.ticks", "alerts", "surveys", "notifications.outbound",
                  "notifications.dlq", "notifier.snapshots", "member.keys", "member.erasures"),
           prefix="carecircle-notifier", why="raises alerts and delivers notifications"),
    Access("dlq-tool", writes=("notifications.outbound",),
           reads=("engagement.events.dlq", "notifications.dlq", "notifications.outbound"),
           why="operators' dead-letter tool (python -m services.common.dlq): lists dead letters, writes "
               "notification.replayed records; run with this user's credentials, never a service's"),
    Access("mirror", writes=(), reads=("*",),
           why="MirrorMaker 2 copies every topic to the disaster-recovery cluster (prod overlay, mirror.yaml)"),
    Access("survey", writes=("surveys", "notifications.outbound", "survey.snapshots", "audit"),
           reads=("surveys", "members", "clock.ticks", "engagement.events", "survey.snapshots", "member.keys",
                  "member.erasures"),
           prefix="carecircle-survey", why="survey steps and responses; asks the notifier to send invitations"),
)


def _acl(kind: str, name: str, operations: list[str], pattern: str = "literal") -> dict[str, Any]:
    return {"resource": {"type": kind, "name": name, "patternType": pattern}, "operations": operations}


def kafka_user(access: Access) -> dict[str, Any]:
    acls = [_acl("topic", t, ["Write", "Describe"]) for t in access.writes]
    acls += [_acl("topic", t, ["Read", "Describe"]) for t in access.reads]
    if access.writes:  # idempotent producers (acks=all, enable_idempotence) need IdempotentWrite
        acls.append(_acl("cluster", "kafka-cluster", ["IdempotentWrite"]))
    if access.prefix:
        acls.append(_acl("topic", access.prefix, ["All"], "prefix"))
        acls.append(_acl("group", access.prefix, ["Read", "Describe"], "prefix"))
    return {
        "apiVersion": "kafka.strimzi.io/v1",
        "kind": "KafkaUser",
        "metadata": {
            "name": access.user,
            "labels": {"strimzi.io/cluster": KAFKA_CLUSTER, "app.kubernetes.io/part-of": "carecircle"},
            "annotations": {"carecircle.io/why": access.why},
        },
        "spec": {"authentication": {"type": "scram-sha-512"}, "authorization": {"type": "simple", "acls": acls}},
    }


def writers(resources: list[dict]) -> dict[str, set[str]]:
    """topic -> the KafkaUsers whose ACLs allow writing it (literal or prefix match)."""
    found: dict[str, set[str]] = {}
    for user in (r for r in resources if r.get("kind") == "KafkaUser"):
        for acl in user["spec"].get("authorization", {}).get("acls", []):
            resource = acl["resource"]
            if resource["type"] == "topic" and {"Write", "All"} & set(acl["operations"]):
                key = resource["name"] + ("*" if resource.get("patternType") == "prefix" else "")
                found.setdefault(key, set()).add(user["metadata"]["name"])
    return found
