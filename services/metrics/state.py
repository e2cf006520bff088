"""Real-time member-day state (pure: no I/O). The faust agents in `stream.py` feed it records and
publish what it returns.

Idempotent by construction (faust is at-least-once and the state is rebuilt by replaying the log):
an event is (member_id, event_id) and its first delivery in log order is the event (docs/metrics.md,
"Duplicates and conflicts"): the book remembers each key with a fingerprint of its content, so a
duplicate or replayed delivery changes nothing, and a later delivery with different content is
counted in `conflicts`, never folded. The members' and cohorts' time (zone history, follow-up periods
with re-enrolment and future-dated withdrawal, settings in force on a day) is `contracts.timeline`,
folded in log order. Every rule comes from `contracts.engagement`.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, timezone

from contracts.daily import EngagementDay, EventDeadLetter
from contracts.engagement import AnyClientEvent, DayEngagement, counts_as_login, is_action, tasks_marked
from contracts.members import CohortConfigured, MemberEnrolled, MemberTimezoneChanged, MemberWithdrawn
from contracts.timeline import MemberTimeline, SettingsHistory, apply_member_record
from services.common.dedup import DEFAULT_WINDOW, PRUNE_EVERY
from services.common.waiting import WaitingRoom

# An event id is remembered (for dedup) while a delivery of it can still arrive: ingest refuses events
# older than the accepted lateness (30 days before the latest tick), plus a margin (DEDUP_WINDOW_DAYS,
# services.common.dedup; docs/scale.md, "Windowed dedup").
DEDUP_WINDOW = DEFAULT_WINDOW


@dataclass(slots=True)
class DayState:
    """One member-day, folded incrementally (the same fold as `contracts.engagement.summarize_day`).
    The book folds each event at most once (first delivery of its key)."""

    events: int = 0
    logged_in: bool = False
    tasks: set[str] = field(default_factory=set)
    actions: int = 0
    # (occurred_at, tasks marked, is action) of each event folded: a zone change re-buckets them
    facts: list[tuple[datetime, frozenset[str], bool]] = field(default_factory=list)

    def add(self, event: AnyClientEvent) -> None:
        self.add_fact(event.occurred_at, tasks_marked(event), is_action(event), counts_as_login(event))

    def add_fact(self, occurred_at: datetime, tasks: frozenset[str], action: bool, login: bool = True) -> None:
        self.events += 1
        self.logged_in = self.logged_in or login
        self.tasks |= tasks
        self.actions += action
        self.facts.append((occurred_at, tasks, action))

    def summary(self) -> DayEngagement:
        return DayEngagement(self.logged_in, frozenset(self.tasks), self.actions)

    def __len__(self) -> int:
        return self.events


def content_fingerprint(event: AnyClientEvent) -> int:
    """What a delivery carries, without the server's receipt time (a retried send is not a conflict).
    A digest, not hash(): Python salts str hashes per process, and a fingerprint restored from a
    snapshot must still match the same content read by the next process."""
    content = f"{event.type}|{event.occurred_at.isoformat()}|{event.payload.model_dump_json()}".encode()
    return int.from_bytes(hashlib.blake2b(content, digest_size=8).digest(), "big")


_EMPTY = DayState()


@dataclass
class MemberDayBook:
    members: dict[str, MemberTimeline] = field(default_factory=dict)
    cohorts: dict[str, SettingsHistory] = field(default_factory=dict)
    days: dict[tuple[str, date], DayState] = field(default_factory=lambda: defaultdict(DayState))
    days_of: dict[str, set[date]] = field(default_factory=lambda: defaultdict(set))  # member_id → its days
    # member_id → events waiting for the member's enrolment, bounded (services.common.waiting)
    pending: WaitingRoom = field(default_factory=WaitingRoom)
    dead_lettered: set[str] = field(default_factory=set)
    # member_id → {event_id: (content fingerprint of its first delivery, occurred_at)}, for the window
    first_delivery: dict[str, dict[str, tuple[int, datetime]]] = field(default_factory=lambda: defaultdict(dict))
    dedup_window: timedelta = DEDUP_WINDOW
    pruned_at: datetime | None = None
    newest_event_at: datetime | None = None  # the newest occurred_at read (the windows' clamp on a replay)
    conflicts: int = 0  # later deliveries of a known key with different content (never folded)
    # erased member id → its random pseudonym, in memory only (docs/erasure.md): records of the id read
    # after the erasure (the topics are read in parallel, a replay reads them all) go to the pseudonym.
    erased: dict[str, str] = field(default_factory=dict)
    # members retired after their follow-up ended (`retire`) → the first and last day published for
    # them (None: none), so an erasure can still tombstone those days; their later records are ignored
    retired: dict[str, tuple[date, date] | None] = field(default_factory=dict)
    retired_records: int = 0  # records of retired members ignored
    retired_at: datetime | None = None  # the last retirement check (not in snapshots: one more is harmless)

    # --- snapshots (docs/scale.md, "Snapshots and restarts") -----------------------------------

    SNAPSHOT_VERSION = "metrics-2"  # bump when the dict below changes
    _SNAPSHOT_FIELDS = ("members", "days", "days_of", "dead_lettered", "first_delivery", "pruned_at",
                        "newest_event_at", "conflicts", "retired")

    def to_snapshot(self) -> dict:
        """Everything folded, except the settings (`dedup_window`, the waiting room's bounds), the
        cohorts' settings (every worker folds them from all of `members`, stream.py) and `erased`:
        erased ids and their pseudonyms are never recorded (docs/erasure.md); a restore replays
        `member.erasures` from offset 0 instead."""
        return {name: getattr(self, name) for name in self._SNAPSHOT_FIELDS} | {"pending": self.pending.to_snapshot()}

    def restore(self, data: dict) -> None:
        for name in self._SNAPSHOT_FIELDS:
            setattr(self, name, data[name])
        self.pending.restore(data["pending"])

    def settings(self, cohort: str) -> SettingsHistory:
        return self.cohorts.get(cohort) or SettingsHistory()

    def day(self, member_id: str, day: date) -> EngagementDay:
        """The member-day as the rules judge it: follow-up periods, settings in force on the day."""
        m = self.members[member_id]
        history = self.settings(m.cohort)
        s = history.settings_on(day)
        state = self.days.get((member_id, day), _EMPTY)
        summary = state.summary()
        return EngagementDay(
            member_id=member_id, cohort=m.cohort, day=day, day_number=m.day_number(day),
            in_follow_up=m.in_follow_up(day, history.latest.ends_on),
            logged_in=summary.logged_in, tasks_done=tuple(sorted(summary.tasks_done)),
            participated=summary.participated(s.tasks), completed=summary.completed(s.tasks),
            actions=summary.actions, events=len(state),
        )

    def apply_event(self, event: AnyClientEvent) -> list[EngagementDay]:
        """The member-day this event changed (empty when a duplicate or the member is unknown yet)."""
        key = self._fold(self._renamed(event))
        return [self.day(*key)] if key else []

    def apply_events(self, events: list[AnyClientEvent]) -> list[EngagementDay]:
        """Fold a batch; each changed member-day once, in its latest state."""
        changed = dict.fromkeys(key for key in (self._fold(self._renamed(e)) for e in events) if key)
        return [self.day(*key) for key in changed]

    def erase(self, member_id: str, pseudonym: str) -> tuple[list[date], list[EngagementDay]]:
        """Re-key the member to `pseudonym` (docs/erasure.md): the days the id had (their published
        keys must be tombstoned) and the same days under the pseudonym (to publish). Waiting events of
        the member are dropped: the enrolment they wait for can no longer come."""
        pseudonym = self.erased.setdefault(member_id, pseudonym)
        if member_id in self.retired:  # nothing kept but the span of days published under the id
            span = self.retired.pop(member_id)
            self.retired[pseudonym] = None  # the id's later records (renamed) stay ignored
            return ([span[0] + timedelta(days=n) for n in range((span[1] - span[0]).days + 1)] if span else []), []
        timeline = self.members.pop(member_id, None)
        if timeline is not None:
            self.members[pseudonym] = replace(
                timeline, member_id=pseudonym,
                enrolment=timeline.enrolment.model_copy(update={"member_id": pseudonym}),
                first_enrolment=timeline.first_enrolment.model_copy(update={"member_id": pseudonym}))
        old_days = sorted(self.days_of.pop(member_id, ()))
        for day in old_days:
            self.days[(pseudonym, day)] = self.days.pop((member_id, day))
            self.days_of[pseudonym].add(day)
        for event_id, _ in self.pending.pop(member_id):
            self.dead_lettered.discard(event_id)
        if member_id in self.first_delivery:
            self.first_delivery[pseudonym] = self.first_delivery.pop(member_id)
        published = [self.day(pseudonym, d) for d in old_days] if pseudonym in self.members else []
        return old_days, published

    def _renamed(self, record):
        """The record as the book keeps it: an erased member's id replaced by its pseudonym."""
        pseudonym = self.erased.get(record.member_id) if self.erased else None
        return record if pseudonym is None else record.model_copy(update={"member_id": pseudonym})

    def _fold(self, event: AnyClientEvent) -> tuple[str, date] | None:
        """Fold the first delivery of (member_id, event_id); later deliveries are duplicates, counted
        as conflicts when their content differs."""
        if event.member_id in self.retired:
            self.retired_records += 1
            return None
        event_id, fingerprint = str(event.event_id), content_fingerprint(event)
        seen = self.first_delivery[event.member_id]
        if event_id in seen:
            if seen[event_id][0] != fingerprint:
                self.conflicts += 1
            return None
        seen[event_id] = (fingerprint, event.occurred_at)
        if self.newest_event_at is None or event.occurred_at > self.newest_event_at:
            self.newest_event_at = event.occurred_at
        return self._place(event_id, event)

    def _place(self, event_id: str, event: AnyClientEvent) -> tuple[str, date] | None:
        member = self.members.get(event.member_id)
        if member is None:
            self.pending.add(event.member_id, event_id, event.occurred_at, event)
            return None
        day = member.local_day(event.occurred_at)
        key = (event.member_id, day)
        self.days[key].add(event)
        self.days_of[event.member_id].add(day)
        return key

    def enrol(self, e: MemberEnrolled) -> list[EngagementDay]:
        """Record the enrolment (a re-enrolment continues follow-up); re-apply the member's waiting
        events and re-state known days."""
        return self._member_record(self._renamed(e))

    def withdraw(self, w: MemberWithdrawn) -> list[EngagementDay]:
        """A withdrawal takes effect on its date (a future date: from then on); the days it changes
        are those from its date (or a corrected earlier one) on."""
        w = self._renamed(w)
        before = self.members.get(w.member_id)
        earlier = before.follow_up.withdrawn_on if before is not None and before.follow_up.is_withdrawn else None
        first = min(w.withdrawn_on, earlier) if earlier else w.withdrawn_on
        return [d for d in self._member_record(w) if d.day >= first]

    def change_timezone(self, z: MemberTimezoneChanged) -> list[EngagementDay]:
        """Instants from 00:00 of `effective_on` (new zone) fall on new-zone days: re-bucket the events
        of the days that can hold such instants."""
        return self._member_record(self._renamed(z))

    def _member_record(self, record: MemberEnrolled | MemberWithdrawn | MemberTimezoneChanged) -> list[EngagementDay]:
        if record.member_id in self.retired:
            self.retired_records += 1
            return []
        before = self.members.get(record.member_id)
        after = apply_member_record(before, record)
        if after is None:
            return []
        self.members[record.member_id] = after
        if before is not None and after.zones != before.zones:
            self._rebucket(record.member_id, after)
        for event_id, event in self.pending.pop(record.member_id):
            self.dead_lettered.discard(event_id)
            self._place(event_id, event)
        return [self.day(record.member_id, day) for day in sorted(self.days_of.get(record.member_id, ()))]

    def _rebucket(self, member_id: str, timeline: MemberTimeline) -> None:
        """Move every folded event to the day the (new) zone history gives it."""
        old_days = sorted(self.days_of.get(member_id, ()))
        facts = [fact for day in old_days for fact in self.days.pop((member_id, day)).facts]
        self.days_of[member_id] = set(old_days)  # emptied days are re-stated (published) too
        for occurred_at, tasks, action in facts:
            day = timeline.local_day(occurred_at)
            self.days[(member_id, day)].add_fact(occurred_at, tasks, action)
            self.days_of[member_id].add(day)

    def configure(self, c: CohortConfigured) -> list[EngagementDay]:
        """A configuration judges the days from its `effective_on` (contracts.timeline)."""
        self.set_cohort(c)
        return self.cohort_days(c.cohort)

    def set_cohort(self, c: CohortConfigured) -> None:
        self.cohorts[c.cohort] = self.settings(c.cohort).apply(c)

    def cohort_days(self, cohort: str) -> list[EngagementDay]:
        """Every known day of the cohort's members, as the cohort's settings judge it now."""
        return [self.day(m, d) for m, member in self.members.items() if member.cohort == cohort
                for d in sorted(self.days_of.get(m, ()))]

    def dead_letters(self, now: datetime | None = None) -> list[EventDeadLetter]:
        """Events still waiting for an enrolment (at a clock tick): dead-letter each once. The caller
        asks only once the book's partition is rebuilt (stream.py): before, an enrolment may still be
        unread."""
        out = []
        for member_id, event_id, event in self.pending.items():
            if event_id in self.dead_lettered:
                continue
            self.dead_lettered.add(event_id)
            out.append(EventDeadLetter(
                event_id=event.event_id, member_id=member_id, reason="unknown_member",
                detail=f"no enrolment of member {member_id!r} seen; re-applied if it arrives",
                event=event.model_dump(mode="json"), dead_lettered_at=now or datetime.now(timezone.utc)))
        return out

    def tick(self, now: datetime) -> None:
        """At a clock tick (hourly is plenty): forget waiting events and dedup keys that can no longer
        matter (older than the windows before `now`), so neither grows without end. On a replay the
        ticks are read in parallel with the events and may run months ahead: the windows end at the
        newest event read if that is earlier, so a replayed event is never forgotten before its
        enrolment or a duplicate delivery close to it in the log is read."""
        if self.newest_event_at is not None:
            now = min(now, self.newest_event_at)
        if self.pruned_at is not None and now - self.pruned_at < PRUNE_EVERY:
            return
        self.pruned_at = now
        for event_id in self.pending.expire(now):
            self.dead_lettered.discard(event_id)
        cutoff = now - self.dedup_window
        for member_id in list(self.first_delivery):
            seen = self.first_delivery[member_id]
            for event_id in [k for k, (_, at) in seen.items() if at < cutoff]:
                del seen[event_id]
            if not seen:
                del self.first_delivery[member_id]

    def retire(self, now: datetime) -> list[str]:
        """Drop the members whose cohort ended (`ends_on`, in the member's zone) more than the dedup
        window before `now` (docs/scale.md, "Retiring ended members"); at most once an hour of
        `now`. No record that could change a day of their follow-up can arrive any more (ingest
        refuses events older than the accepted lateness), so their published days are final. Only
        the span of those days stays (an erasure tombstones them); their later records are ignored.
        The caller calls it only when every record ingest accepted before `now` has been read: the
        partition is at its log end (stream.py), never while it is rebuilt or behind."""
        if self.retired_at is not None and now - self.retired_at < PRUNE_EVERY:
            return []
        self.retired_at = now
        gone = []
        for member_id, member in list(self.members.items()):
            ends_on = self.settings(member.cohort).latest.ends_on
            if ends_on is None or member.local_day(now - self.dedup_window) <= ends_on:
                continue
            days = self.days_of.pop(member_id, set())
            for day in days:
                self.days.pop((member_id, day), None)
            self.retired[member_id] = (min(days), max(days)) if days else None
            del self.members[member_id]
            self.first_delivery.pop(member_id, None)
            gone.append(member_id)
        return gone
