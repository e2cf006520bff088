"""The sink stores the alert lifecycle (docs/metrics.md, "Alerts in ClickHouse"): real broker, real
chDB. The first delivery of a step wins, a call's note never reaches ClickHouse, and an erasure
re-keys the member's alerts without changing the cohort's alert figures."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import date, datetime, timedelta, timezone

import pytest

from contracts.alerts import (
    AlertAcknowledged,
    AlertEscalated,
    AlertRaised,
    AlertResolved,
    CallLogged,
    ScaleFinding,
)
from contracts.erasure import MemberErased
from contracts.topics import ALERTS, MEMBER_ERASURES
from services.common.kafka import Publisher, Record
from services.metrics.alert_store import InvalidAlertRecord, alert_event_rows
from services.metrics.clickhouse import connect
from services.metrics.rows import CONVERTERS
from services.metrics.schema import TABLE_SCHEMAS, migrate
from services.metrics.sink import Sink
from testsupport.polling import wait_until

from .conftest import unique_prefix

T0 = datetime(2026, 11, 10, 1, 0, tzinfo=timezone.utc)
NOTE = "NOTE-MARKER-she-cried-on-the-phone"


def _lifecycle(prefix: str, cohort: str):
    """Member A: an inactivity alert through every step (escalated, acknowledged, two calls with a note,
    resolved), each step delivered twice, the repeat carrying other content. Member B: an open symptom alert."""
    a, b = f"{prefix}-a", f"{prefix}-b"
    alert_a, alert_b = uuid.uuid4(), uuid.uuid4()
    common_a = {"alert_id": alert_a, "member_id": a, "cohort": cohort}
    steps = [
        AlertRaised(event_id=uuid.uuid4(), occurred_at=T0, kind="inactivity", rule="intervention_inactive",
                    since=date(2026, 11, 7), through=date(2026, 11, 9), missed_days=3, window_days=3,
                    last_login_on=date(2026, 11, 6), assigned_to="n-1", **common_a),
        AlertEscalated(event_id=uuid.uuid4(), occurred_at=T0 + timedelta(hours=4), assigned_to="n-1",
                       lead_nurse="n-lead", **common_a),
        AlertAcknowledged(event_id=uuid.uuid4(), occurred_at=T0 + timedelta(hours=5), by="n-2", **common_a),
        CallLogged(event_id=uuid.uuid4(), occurred_at=T0 + timedelta(hours=6), by="n-2", outcome="no_answer",
                   note=NOTE, **common_a),
        CallLogged(event_id=uuid.uuid4(), occurred_at=T0 + timedelta(hours=8), by="n-2", outcome="reached",
                   note=NOTE, **common_a),
        AlertResolved(event_id=uuid.uuid4(), occurred_at=T0 + timedelta(days=1), reason="active_again", **common_a),
    ]
    # each step re-delivered later with other content: the first delivery is the step
    repeats = [s.model_copy(update={"occurred_at": s.occurred_at + timedelta(days=30)}) for s in steps]
    repeats[0] = repeats[0].model_copy(update={"kind": "symptom", "rule": "symptom_scores"})
    repeats[3] = repeats[3].model_copy(update={"outcome": "declined"})
    symptom = AlertRaised(event_id=uuid.uuid4(), occurred_at=T0, kind="symptom", rule="symptom_scores",
                          since=date(2026, 11, 9), through=date(2026, 11, 9), missed_days=0, window_days=1,
                          timepoint="T1", last_login_on=None, assigned_to=None, alert_id=alert_b, member_id=b,
                          cohort=cohort, scales=(ScaleFinding(scale="PA", value=50, reason="threshold", limit=25),
                                                 ScaleFinding(scale="FA", value=67, reason="threshold", limit=39)))
    def encode(events):
        return [Record(ALERTS.name, s.member_id.encode(), s.model_dump_json().encode()) for s in events]

    return a, b, str(alert_a), str(alert_b), encode([*steps, symptom]), encode(repeats)


def test_call_note_is_never_read_and_bad_records_are_refused():
    call = CallLogged(event_id=uuid.uuid4(), alert_id=uuid.uuid4(), member_id="m-1", cohort="c-1", occurred_at=T0,
                      by="n-1", outcome="voicemail", note=NOTE)
    [(table, row)] = alert_event_rows(call.model_dump_json().encode(), 0, 7)
    assert table == "alert_events" and row["outcome"] == "voicemail" and row["actor"] == "n-1"
    assert NOTE not in json.dumps(row, default=str) and set(row) == set(TABLE_SCHEMAS["alert_events"].names)
    with pytest.raises(InvalidAlertRecord):
        alert_event_rows(b'{"type": "call.logged", "member_id": "m-1"}', 0, 8)


@pytest.mark.clickhouse
def test_alert_lifecycle_stored_first_delivery_wins_and_erasure_rekeys(own_broker, tmp_path):
    _, broker = own_broker  # its own log: the sink's read position tells when every record is in
    prefix = unique_prefix()
    cohort = f"alerts-{prefix}"
    a, b, alert_a, alert_b, records, repeats = _lifecycle(prefix, cohort)
    ch = connect(f"chdb://{tmp_path / 'chdb'}")
    migrate(ch)

    def alerts() -> dict[str, dict]:
        return {r["alert_id"]: r for r in ch.query("SELECT * FROM alerts WHERE cohort = {c:String}", {"c": cohort})}

    async def scenario() -> None:
        publisher = Publisher(broker)
        sink = Sink(ch, broker, CONVERTERS, TABLE_SCHEMAS, poll_ms=50)
        await sink.start()
        try:
            def read_up_to(topic: str, n: int) -> bool:
                return sum(v for (t, _), v in sink.positions.items() if t == topic) >= n

            # the repeats arrive in batches of their own (a separate insert) and in the same batch
            await publisher.publish(records[:3])
            await asyncio.to_thread(wait_until, lambda: read_up_to(ALERTS.name, 3), 90, "first steps stored")
            await publisher.publish(records[3:] + repeats)
            await asyncio.to_thread(wait_until, lambda: read_up_to(ALERTS.name, 13), 90, "every alert step stored")
            stored = alerts()
            first = stored[alert_a]
            assert first["member_id"] == a and first["kind"] == "inactivity"
            assert first["rule"] == "intervention_inactive"
            assert first["raised_at"] == T0 and first["since"] == date(2026, 11, 7) and first["missed_days"] == 3
            assert first["escalated"] and first["escalated_at"] == T0 + timedelta(hours=4)
            assert first["acknowledged_at"] == T0 + timedelta(hours=5) and first["acknowledged_by"] == "n-2"
            assert first["calls"] == 2 and first["call_outcomes"] == ["no_answer", "reached"]
            assert first["resolved_at"] == T0 + timedelta(days=1) and first["resolve_reason"] == "active_again"
            second = stored[alert_b]
            assert second["kind"] == "symptom" and second["scales"] == ["FA", "PA"] and second["timepoint"] == "T1"
            assert second["acknowledged_at"] is None and second["resolved_at"] is None and not second["escalated"]
            # no column of the table holds the note (the same search finds the cohort's name: it works)
            assert ch.query("SELECT count() AS n FROM alert_events WHERE position(toString(tuple(*)), {n:String}) > 0",
                            {"n": cohort})[0]["n"] > 0
            assert ch.query("SELECT count() AS n FROM alert_events WHERE position(toString(tuple(*)), {n:String}) > 0",
                            {"n": NOTE})[0]["n"] == 0

            erased = MemberErased(event_id=uuid.uuid4(), member_id=a, cohort=cohort, occurred_at=T0)
            await publisher.publish([Record(MEMBER_ERASURES.name, a.encode(), erased.model_dump_json().encode())])
            await asyncio.to_thread(wait_until, lambda: read_up_to(MEMBER_ERASURES.name, 1), 90, "erasure applied")
        finally:
            await sink.stop()
            await asyncio.to_thread(publisher.close)
        # the alert id is derived from the member id (uuid5): it is replaced by a random one (docs/erasure.md)
        (after,) = [v for v in alerts().values() if v["member_id"].startswith("erased-")]
        assert alert_a not in alerts() and after["alert_id"] != alert_a
        same = [k for k in after if k not in ("member_id", "alert_id")]
        assert [after[k] for k in same] == [first[k] for k in same]
        assert ch.query("SELECT count() AS n FROM alert_events WHERE member_id = {m:String}", {"m": a})[0]["n"] == 0

    try:
        asyncio.run(scenario())
    finally:
        ch.close()  # chDB serves one data path per process: the next test opens its own
