"""A simulated cohort for the scale-out tests, written straight to the member-keyed topics (seeded, so
two runs write the same log): several hundred members in three zones over two weeks, gaps of
inactivity (alerts), 5 % duplicate deliveries and 10 % of the events arriving two days late.

`Driver` remembers, per topic partition, how many records it wrote, so a test can wait until every
worker has *applied* that many (the `carecircle_consumer_applied_offset` gauge each service publishes)
instead of sleeping: a tick is only written once the events before it are folded everywhere, which
makes every run decide on the same state."""

from __future__ import annotations

import json
import random
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from kafka import KafkaProducer

from contracts.clock import tick_event_id
from contracts.topics import CLOCK_TICKS, ENGAGEMENT_EVENTS, MEMBER_PARTITIONS, MEMBERS

ZONES = ("Asia/Shanghai", "America/New_York", "Europe/Berlin")
TASKS = ("meal", "exercise", "meditation")
START = date(2026, 9, 1)
TICK_HOURS = (0, 4, 8, 12, 16, 20)  # UTC; reminder grace (set by the tests) covers the 4 h between ticks


@dataclass
class Plan:
    cohort: str
    members: list[tuple[str, str, date]]  # (member_id, zone, enrolled_on)
    events_by_day: dict[int, list[dict]] = field(default_factory=lambda: defaultdict(list))  # delivery day → events
    days: int = 14


def plan(seed: int = 16, members: int = 300, days: int = 14, cohort: str = "scale") -> Plan:
    rng = random.Random(seed)
    result = Plan(cohort, [], days=days)
    for index in range(members):
        member_id, zone = f"s-{index:04d}", ZONES[index % len(ZONES)]
        enrolled_on = START + timedelta(days=index % 3)
        result.members.append((member_id, zone, enrolled_on))
        gap = range(3 + index % 5, 6 + index % 5) if index % 4 == 0 else range(0)  # quiet days → alerts
        for day in range((enrolled_on - START).days, days):
            quit_early = index % 40 == 5 and day >= days - 4  # still quiet at the end: open alerts remain
            if day - (enrolled_on - START).days in gap or quit_early or rng.random() < 0.1:
                continue
            local = START + timedelta(days=day)
            meal_done = rng.random() < 0.85  # the one scheduled task: a day without it gets a reminder
            for n in range(rng.randint(1, 3)):
                at = datetime.combine(local, time(rng.randint(6, 22), rng.randint(0, 59)), ZoneInfo(zone))
                kind = "checkin" if n == 0 and meal_done else rng.choice(("login", "checkin", "meditation_play"))
                payload = {"checkin": {"task": "meal" if n == 0 and meal_done else rng.choice(TASKS[1:])},
                           "meditation_play": {"content_id": "breath-5", "seconds": 300, "completed": True}
                           }.get(kind, {})
                event = {"type": kind, "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                         "member_id": member_id, "occurred_at": at.isoformat(), "payload": payload}
                delivered = day + 2 if rng.random() < 0.1 else day  # late: the phone was offline
                result.events_by_day[min(delivered, days - 1)].append(event)
                if rng.random() < 0.05:  # duplicate delivery, same event id, a day later
                    result.events_by_day[min(delivered + 1, days - 1)].append(event)
    return result


def tick_times(day: int) -> list[datetime]:
    local = START + timedelta(days=day)
    return [datetime.combine(local, time(hour), timezone.utc) for hour in TICK_HOURS]


class Driver:
    """Writes the plan to the topics with acks=all and counts records per (topic, partition)."""

    def __init__(self, bootstrap: str) -> None:
        self.producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
        self.written: dict[tuple[str, int], int] = {}

    def _send(self, topic: str, key: str, value: dict, partition: int | None = None) -> None:
        future = self.producer.send(topic, key=key.encode(), value=json.dumps(value).encode(), partition=partition)
        future.add_callback(lambda md: self.written.__setitem__(
            (md.topic, md.partition), max(self.written.get((md.topic, md.partition), 0), md.offset + 1)))

    def flush(self) -> None:
        self.producer.flush(30)

    def setup(self, p: Plan) -> None:
        # One scheduled task and one reminder slot: reminders go to the days without a meal check-in
        # (a few hundred), so delivery, not the gateway's pace, is what the test exercises.
        settings = {"tasks": ["meal"], "reminder_times": ["20:00"], "inactive_days_intervention": 2}
        self._send(MEMBERS.name, f"cohort:{p.cohort}", {
            "type": "cohort.configured", "event_id": str(uuid.uuid5(uuid.NAMESPACE_URL, p.cohort)),
            "cohort": p.cohort, "settings": settings, "occurred_at": "2026-08-30T00:00:00+00:00"})
        for member_id, zone, enrolled_on in p.members:
            self._send(MEMBERS.name, member_id, {
                "type": "member.enrolled", "event_id": str(uuid.uuid5(uuid.NAMESPACE_URL, member_id)),
                "member_id": member_id, "cohort": p.cohort, "timezone": zone,
                "enrolled_on": enrolled_on.isoformat(), "occurred_at": "2026-08-30T00:00:00+00:00"})
        self.flush()

    def events(self, p: Plan, day: int) -> None:
        received = datetime.combine(START + timedelta(days=day), time(23, 59), timezone.utc)
        for event in p.events_by_day.get(day, ()):
            self._send(ENGAGEMENT_EVENTS.name, event["member_id"],
                       event | {"received_at": max(received, datetime.fromisoformat(event["occurred_at"])).isoformat()})
        self.flush()

    def ticks(self, day: int) -> None:
        for now in tick_times(day):
            value = {"type": "clock.tick", "event_id": str(tick_event_id(now)), "now": now.isoformat()}
            for partition in range(MEMBER_PARTITIONS):
                self._send(CLOCK_TICKS.name, str(partition), value, partition=partition)
        self.flush()

    def close(self) -> None:
        self.producer.close(5)
