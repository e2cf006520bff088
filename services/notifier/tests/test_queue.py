"""The call-queue reducer: transitions, conflicts and idempotent replay."""

import json
from datetime import date, datetime, timezone
from uuid import uuid4

from contracts.alerts import AlertAcknowledged, AlertEscalated, AlertRaised, AlertResolved, CallLogged
from services.notifier.queue import CallQueue

NOW = datetime(2026, 9, 4, tzinfo=timezone.utc)


def raised(member="m-1", alert_id=None):
    return AlertRaised(event_id=uuid4(), alert_id=alert_id or uuid4(), member_id=member, cohort="c", occurred_at=NOW,
                       rule="intervention_inactive", since=date(2026, 9, 2), through=date(2026, 9, 3), missed_days=2,
                       window_days=2, last_login_on=None, assigned_to="n-a")


def step(cls, alert, **kw):
    return cls(event_id=uuid4(), alert_id=alert.alert_id, member_id=alert.member_id, cohort="c", occurred_at=NOW, **kw)


def test_lifecycle_and_conflicts():
    q = CallQueue()
    a = raised()
    assert q.apply(a) and not q.apply(a)  # replay of the same event changes nothing
    assert q.conflict(raised()) == "member already has an unresolved inactivity alert"
    assert q.apply(step(AlertEscalated, a, assigned_to="n-a", lead_nurse="n-lead"))
    assert not q.apply(step(AlertEscalated, a, assigned_to="n-a", lead_nurse="n-lead"))  # once
    assert q.apply(step(AlertAcknowledged, a, by="n-a"))
    assert q.conflict(step(AlertAcknowledged, a, by="n-b")) == "alert already acknowledged by n-a"
    assert q.apply(step(CallLogged, a, by="n-a", outcome="no_answer", note="call back after 5"))
    assert q.apply(step(AlertResolved, a, reason="active_again"))
    view = q.alerts[a.alert_id]
    assert (view.status, view.resolved_reason, [c.outcome for c in view.calls]) == (
        "resolved",
        "active_again",
        ["no_answer"],
    )
    assert q.conflict(step(AlertAcknowledged, a, by="n-a")) == "alert is resolved"
    assert not q.apply(step(CallLogged, a, by="n-a", outcome="reached"))
    assert q.unresolved() == [] and q.apply(raised())  # a new episode may open after the resolution


def test_a_call_acknowledges_and_counts_track_unresolved_alerts_per_nurse():
    q = CallQueue()
    a, b = raised("m-1"), raised("m-2")
    q.apply(a), q.apply(b)
    assert q.unresolved_counts("c") == {"n-a": 2}
    q.apply(step(CallLogged, a, by="n-b", outcome="reached"))
    assert q.alerts[a.alert_id].status == "acknowledged" and q.alerts[a.alert_id].acknowledged_by == "n-b"
    q.apply(step(AlertResolved, b, reason="manual", by="n-a"))
    assert q.unresolved_counts("c") == {"n-a": 1}
    assert q.conflict(step(AlertAcknowledged, raised("m-3"), by="n-a")) == "unknown alert"


def test_an_invalid_record_is_logged_without_its_content(capsys):
    from services.common.logging import configure_logging
    from services.notifier.runtime import NotifierRuntime
    from services.notifier.settings import NotifierSettings

    configure_logging("notifier-test")
    runtime = NotifierRuntime(NotifierSettings(jwt_secret="x" * 40))
    secret = "patient said she feels hopeless"
    runtime.fold("alerts", 0, json.dumps({"type": "call.logged", "event_id": str(uuid4()), "alert_id": str(uuid4()),
                                          "member_id": "m-1", "cohort": "c", "occurred_at": NOW.isoformat(),
                                          "by": "n-a", "outcome": "shouted", "note": secret}).encode())
    out = capsys.readouterr().out
    assert "notifier_record_invalid" in out and "outcome" in out and secret not in out


def test_one_unresolved_alert_per_member_and_kind():
    q = CallQueue()
    assert q.apply(raised())
    symptom = raised().model_copy(update={"kind": "symptom", "rule": "symptom_scores", "timepoint": "T1"})
    assert q.apply(symptom)  # a symptom alert beside the inactivity alert
    assert (
        q.conflict(symptom.model_copy(update={"alert_id": uuid4()})) == "member already has an unresolved symptom alert"
    )
    assert q.unresolved_of(symptom.member_id, "symptom").timepoint == "T1"
    assert len(q.unresolved()) == 2
