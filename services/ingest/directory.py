"""What ingest knows about members and time, and the guards it decides with (pure: no I/O).

Folded from the `members` and `clock.ticks` topics by `directory_feed` (and, right after ingest's
own writes, by the admin routes, so a client can send events as soon as its enrolment was answered).
Every guard is a function of this state and the request (docs/services/ingest.md):

* enrolments: a repeated enrolment of a member not withdrawn is a no-op when identical and a
  conflict naming the first differing field otherwise; a withdrawn member re-enrols in the same
  cohort only, from the withdrawal date on;
* zone changes: unknown member → not found; `effective_on` before the member's current local date
  (by the latest tick) → invalid;
* cohort settings: `effective_on` defaults to the UTC date of the latest tick and may not be earlier;
* events: a member never enrolled → `not_enrolled`; `occurred_at` too far before the latest tick →
  `too_old`;
* erasure (docs/erasure.md): an unknown or already erased member → not found; once erased, the member
  is forgotten (later records of the id on `members` are ignored, its events refused as not enrolled)
  and the id cannot be enrolled again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal

from contracts.members import (
    CohortConfigured, EnrollmentRequest, MemberEnrolled, MemberTimezoneChanged, MemberWithdrawn,
    TimezoneChangeRequest,
)
from contracts.timeline import MemberTimeline, apply_member_record

MemberRecord = CohortConfigured | MemberEnrolled | MemberWithdrawn | MemberTimezoneChanged


@dataclass(frozen=True)
class Refusal:
    """Why a command cannot apply: the HTTP status, the field at fault and a sentence for the client."""

    status: Literal[404, 409, 422]
    field: str
    why: str


@dataclass(frozen=True)
class EnrolmentVerdict:
    kind: Literal["new", "re-enrolment", "unchanged"]
    existing: MemberEnrolled | None = None  # for "unchanged": the record already on the log


ENROLMENT_FIELDS = ("cohort", "timezone", "enrolled_on")


class Directory:
    def __init__(self) -> None:
        self.members: dict[str, MemberTimeline] = {}
        self.cohorts: set[str] = set()
        self.latest_tick: datetime | None = None
        # Ids erased on the log (rebuilt from `member.erasures` like everything here): the topics are read
        # in parallel, so an erasure can be folded before the member's own records and must outlast them.
        self.erased: set[str] = set()

    # --- folding (idempotent: a record folded twice changes nothing the second time) -------------

    def fold(self, record: MemberRecord) -> None:
        if isinstance(record, CohortConfigured):
            self.cohorts.add(record.cohort)
            return
        if record.member_id in self.erased:
            return
        timeline = apply_member_record(self.members.get(record.member_id), record)
        if timeline is not None:
            self.members[record.member_id] = timeline

    def fold_erased(self, member_id: str) -> None:
        self.erased.add(member_id)
        self.members.pop(member_id, None)

    def fold_tick(self, now: datetime) -> None:
        if self.latest_tick is None or now > self.latest_tick:
            self.latest_tick = now

    # --- admin commands ------------------------------------------------------------------------

    def enrolment(self, request: EnrollmentRequest) -> EnrolmentVerdict | Refusal:
        if request.member_id in self.erased:
            return Refusal(409, "member_id", "this member id was erased; enrol with a new member id")
        timeline = self.members.get(request.member_id)
        if timeline is None:
            return EnrolmentVerdict("new")
        follow_up = timeline.follow_up
        if not follow_up.is_withdrawn:
            current = timeline.enrolment
            for name in ENROLMENT_FIELDS:
                if getattr(request, name) != getattr(current, name):
                    hint = " (zones change through PUT /v1/members/{member_id}/timezone)" if name == "timezone" else ""
                    return Refusal(409, name, f"member is already enrolled with a different {name}{hint}")
            return EnrolmentVerdict("unchanged", current)
        if request.cohort != timeline.cohort:
            return Refusal(409, "cohort", "a withdrawn member may re-enrol only in the cohort of the first enrolment")
        withdrawn_on = follow_up.withdrawn_on
        if withdrawn_on is not None and request.enrolled_on < withdrawn_on:
            return Refusal(409, "enrolled_on",
                           f"a re-enrolment starts on or after the withdrawal date {withdrawn_on.isoformat()}")
        return EnrolmentVerdict("re-enrolment")

    def timezone_change(self, member_id: str, request: TimezoneChangeRequest) -> MemberTimeline | Refusal:
        """The member's timeline when the change may be written, else why not."""
        timeline = self.members.get(member_id)
        if timeline is None:
            return Refusal(404, "member_id", "unknown member")
        if self.latest_tick is not None:
            today = timeline.local_day(self.latest_tick)
            if request.effective_on < today:
                return Refusal(422, "effective_on",
                               f"must not be earlier than the member's current local date {today.isoformat()}")
        return timeline

    def erasure(self, member_id: str) -> MemberTimeline | Refusal:
        """The member's timeline when the member may be erased (enrolled once, not erased yet)."""
        timeline = self.members.get(member_id)
        if timeline is None:
            return Refusal(404, "member_id", "unknown member")
        return timeline

    def settings_effective_on(self, requested: date | None) -> date | None | Refusal:
        """The `effective_on` to write: the UTC date of the latest tick by default (none while no tick
        exists: the configuration then applies from the beginning)."""
        earliest = self.latest_tick.date() if self.latest_tick is not None else None
        if requested is None:
            return earliest
        if earliest is not None and requested < earliest:
            return Refusal(422, "effective_on", f"must not be earlier than the current date {earliest.isoformat()} (UTC)")
        return requested

    # --- events --------------------------------------------------------------------------------

    def event_problem(self, member_id: str, occurred_at: datetime, max_age: timedelta) -> tuple[str, str, str] | None:
        """(field, error type, message) when an otherwise valid event must be refused, else None."""
        if self.latest_tick is not None and occurred_at < self.latest_tick - max_age:
            return ("occurred_at", "too_old",
                    f"occurred more than {max_age.days} days before the current time; not accepted")
        if member_id not in self.members:
            return ("member_id", "not_enrolled", "member is not enrolled; send again after the enrolment")
        return None
