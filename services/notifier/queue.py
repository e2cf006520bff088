"""The call queue: a projection folded from the `alerts` topic by one pure reducer.

The same reducer answers the API's conflict checks (`conflict`) and folds the log (`apply`), so a
state rebuilt by replaying the topic equals the state built live. Events are de-duplicated by
`event_id`; an event that conflicts with the state (e.g. an acknowledgement after a resolution, two
replicas racing) is ignored — the first in log order wins.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from uuid import UUID

from contracts.alerts import (
    AlertAcknowledged,
    AlertEscalated,
    AlertEvent,
    AlertRaised,
    AlertResolved,
    CallLogged,
)
from services.common.dedup import DEFAULT_WINDOW, SeenIds
from services.common.member_keys import ERASED_TEXT


@dataclass
class Call:
    by: str
    outcome: str
    at: datetime
    note: str | None = None


@dataclass
class AlertView:
    alert_id: UUID
    member_id: str
    cohort: str
    rule: str
    since: date
    through: date
    missed_days: int
    window_days: int
    last_login_on: date | None
    assigned_to: str | None
    raised_at: datetime
    status: str = "open"  # open | acknowledged | resolved
    escalated_at: datetime | None = None
    lead_nurse: str | None = None
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    resolved_reason: str | None = None
    calls: list[Call] = field(default_factory=list)
    kind: str = "inactivity"
    timepoint: str | None = None
    scales: tuple[dict, ...] = ()

    def public(self, with_notes: bool = True) -> dict:
        return {
            "alert_id": str(self.alert_id), "member_id": self.member_id, "cohort": self.cohort, "kind": self.kind,
            "rule": self.rule, "timepoint": self.timepoint, "scales": list(self.scales),
            "since": self.since.isoformat(), "through": self.through.isoformat(), "missed_days": self.missed_days,
            "window_days": self.window_days,
            "last_login_on": self.last_login_on.isoformat() if self.last_login_on else None,
            "assigned_to": self.assigned_to, "status": self.status, "raised_at": self.raised_at.isoformat(),
            "escalated": self.escalated_at is not None,
            "escalated_at": self.escalated_at.isoformat() if self.escalated_at else None,
            "lead_nurse": self.lead_nurse,
            "acknowledged_at": self.acknowledged_at.isoformat() if self.acknowledged_at else None,
            "acknowledged_by": self.acknowledged_by,
            "resolved_at": self.resolved_at.isoformat() if self.resolved_at else None,
            "resolved_by": self.resolved_by, "resolved_reason": self.resolved_reason,
            "calls": [{"by": c.by, "outcome": c.outcome, "at": c.at.isoformat(),
                       **({"note": c.note} if with_notes else {})} for c in self.calls],
        }


class CallQueue:
    def __init__(self, dedup_window: timedelta = DEFAULT_WINDOW) -> None:
        self.alerts: dict[UUID, AlertView] = {}
        # One unresolved alert per member and kind (inactivity, symptom): (member_id, kind) → alert id
        self.unresolved_by_member: dict[tuple[str, str], UUID] = {}
        # event ids folded, for the dedup window (services.common.dedup): a re-delivery arrives within
        # minutes of its first copy, far inside the window, so forgetting older ids changes nothing
        self._seen = SeenIds(dedup_window)
        self._load: dict[str, Counter] = {}  # cohort → unresolved alerts per assigned nurse

    # --- queries ---------------------------------------------------------------------------------

    def unresolved_counts(self, cohort: str) -> Counter:
        return +self._load.get(cohort, Counter())

    def unresolved(self) -> list[AlertView]:
        return [self.alerts[a] for a in self.unresolved_by_member.values()]

    def unresolved_of(self, member_id: str, kind: str) -> AlertView | None:
        alert_id = self.unresolved_by_member.get((member_id, kind))
        return None if alert_id is None else self.alerts[alert_id]

    def seen(self, event_id: UUID) -> bool:
        return event_id in self._seen

    def prune(self, now: datetime) -> int:
        """Forget event ids older than the dedup window (hourly at most); how many went."""
        return self._seen.prune(now)

    @property
    def ids_remembered(self) -> int:
        return len(self._seen)

    # --- the reducer -----------------------------------------------------------------------------

    def conflict(self, event: AlertEvent) -> str | None:
        """Why `event` cannot apply to the current state (None: it can)."""
        view = self.alerts.get(event.alert_id)
        if isinstance(event, AlertRaised):
            if view is not None:
                return "alert already exists"
            if (event.member_id, event.kind) in self.unresolved_by_member:
                return f"member already has an unresolved {event.kind} alert"
            return None
        if view is None:
            return "unknown alert"
        if view.status == "resolved":
            return "alert is resolved"
        if isinstance(event, AlertAcknowledged) and view.status == "acknowledged":
            return f"alert already acknowledged by {view.acknowledged_by}"
        if isinstance(event, AlertEscalated) and (view.status != "open" or view.escalated_at is not None):
            return "alert is acknowledged or already escalated"
        return None

    def apply(self, event: AlertEvent) -> bool:
        """Fold one event; False when it was already applied or conflicts (then it changes nothing)."""
        if not self._seen.add(event.event_id, event.occurred_at):
            return False
        if self.conflict(event) is not None:
            return False
        if isinstance(event, AlertRaised):
            self.alerts[event.alert_id] = AlertView(
                event.alert_id, event.member_id, event.cohort, event.rule, event.since, event.through,
                event.missed_days, event.window_days, event.last_login_on, event.assigned_to, event.occurred_at,
                kind=event.kind, timepoint=event.timepoint,
                scales=tuple(s.model_dump(mode="json") for s in event.scales))
            self.unresolved_by_member[(event.member_id, event.kind)] = event.alert_id
            if event.assigned_to:
                self._load.setdefault(event.cohort, Counter())[event.assigned_to] += 1
            return True
        view = self.alerts[event.alert_id]
        if isinstance(event, AlertEscalated):
            view.escalated_at, view.lead_nurse = event.occurred_at, event.lead_nurse
        elif isinstance(event, AlertAcknowledged):
            view.status, view.acknowledged_at, view.acknowledged_by = "acknowledged", event.occurred_at, event.by
        elif isinstance(event, CallLogged):
            view.calls.append(Call(event.by, event.outcome, event.occurred_at, event.note))
            if view.status == "open":  # a call is an acknowledgement
                view.status, view.acknowledged_at, view.acknowledged_by = "acknowledged", event.occurred_at, event.by
        elif isinstance(event, AlertResolved):
            view.status, view.resolved_at = "resolved", event.occurred_at
            view.resolved_by, view.resolved_reason = event.by, event.reason
            if self.unresolved_by_member.get((view.member_id, view.kind)) == view.alert_id:
                del self.unresolved_by_member[(view.member_id, view.kind)]
            if view.assigned_to:
                self._load[view.cohort][view.assigned_to] -= 1
        return True

    # --- erasure ---------------------------------------------------------------------------------

    def rename_member(self, member_id: str, pseudonym: str, new_id: Callable[[UUID], UUID]) -> list[UUID]:
        """Move the member's alerts to `pseudonym` (docs/erasure.md): each gets a random id (the old one is
        derived from the member id), call notes read `[erased]`, statuses and dates stay (the open-alert
        counts do not change). Returns the old alert ids."""
        moved = [alert_id for alert_id, view in self.alerts.items() if view.member_id == member_id]
        for old in moved:
            view = self.alerts.pop(old)
            view.alert_id, view.member_id = new_id(old), pseudonym
            view.calls = [replace(c, note=ERASED_TEXT if c.note else None) for c in view.calls]
            self.alerts[view.alert_id] = view
        for (member, kind), alert_id in list(self.unresolved_by_member.items()):
            if member == member_id:
                del self.unresolved_by_member[(member, kind)]
                self.unresolved_by_member[(pseudonym, kind)] = new_id(alert_id)
        return moved
