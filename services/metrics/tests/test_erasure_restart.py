"""The sink after a restart (docs/erasure.md), on the real broker and real chDB: a member's event accepted
before the erasure but sunk only after the sink restarted must not bring the erased id back into any
table (the previous process's pseudonyms were never recorded)."""

import asyncio
import gc
import json
import time
from datetime import date, datetime, timezone
from uuid import uuid4

from contracts.erasure import MemberErased
from contracts.topics import ENGAGEMENT_EVENTS, MEMBER_ERASURES, MEMBERS
from services.common.kafka import Publisher, Record
from services.metrics.clickhouse import connect
from services.metrics.rows import CONVERTERS
from services.metrics.schema import TABLE_SCHEMAS, migrate
from services.metrics.sink import Sink

from .conftest import unique_prefix

AT = datetime(2026, 10, 5, 9, tzinfo=timezone.utc)


def _event(member: str, event_id: str) -> Record:
    value = {"type": "login", "event_id": event_id, "member_id": member, "occurred_at": AT.isoformat(),
             "received_at": AT.isoformat(), "payload": {}}
    return Record(ENGAGEMENT_EVENTS.name, member.encode(), json.dumps(value).encode())


def _naming(ch, member: str) -> int:
    return sum(ch.query(f"SELECT count() AS n FROM {table} WHERE {column} = {{m:String}}", {"m": member})[0]["n"]
               for table, column in (("events", "member_id"), ("enrolments", "member_id"),
                                     ("member_days", "member_id"), ("member_records", "member_id")))


def _sunk(ch, event_id: str) -> bool:
    return ch.query("SELECT count() AS n FROM events WHERE event_id = {e:String}", {"e": event_id})[0]["n"] > 0


async def _run_until(sink: Sink, done, what: str, timeout_s: float = 60.0) -> None:
    await sink.start()
    try:
        deadline = time.monotonic() + timeout_s
        while not await asyncio.to_thread(done):
            assert time.monotonic() < deadline, what
            await asyncio.sleep(0.1)
    finally:
        await sink.stop()


def test_late_event_after_a_sink_restart_stays_under_a_pseudonym(own_broker, tmp_path):
    _, bootstrap = own_broker
    member, cohort = f"m-{unique_prefix()}", f"c-{unique_prefix()}"
    gc.collect()  # chDB serves one data path per process: let a session an earlier test left go first
    ch = connect(f"chdb://{tmp_path / 'chdb'}")
    migrate(ch)
    publisher = Publisher(bootstrap)
    enrolled = {"type": "member.enrolled", "event_id": str(uuid4()), "member_id": member, "cohort": cohort,
                "timezone": "UTC", "enrolled_on": date(2026, 10, 1).isoformat(), "occurred_at": AT.isoformat()}
    first, late = str(uuid4()), str(uuid4())
    erased = MemberErased(event_id=uuid4(), member_id=member, cohort=cohort, occurred_at=AT)
    try:
        asyncio.run(publisher.publish([Record(MEMBERS.name, member.encode(), json.dumps(enrolled).encode()),
                                       _event(member, first),
                                       Record(MEMBER_ERASURES.name, member.encode(),
                                              erased.model_dump_json().encode())]))
        sink = Sink(ch, bootstrap, CONVERTERS, TABLE_SCHEMAS, poll_ms=50)
        asyncio.run(_run_until(sink, lambda: _sunk(ch, first) and sink.pseudonyms.get(member) is not None
                               and _naming(ch, member) == 0, "erasure applied"))
        # Accepted before the erasure, in flight until now: it reaches a sink that restarted meanwhile.
        asyncio.run(publisher.publish([_event(member, late)]))
        restarted = Sink(ch, bootstrap, CONVERTERS, TABLE_SCHEMAS, poll_ms=50)
        asyncio.run(_run_until(restarted, lambda: _sunk(ch, late), "late event sunk"))
        assert _naming(ch, member) == 0
        assert restarted.pseudonyms.get(member) not in (None, sink.pseudonyms.get(member))  # a fresh one
    finally:
        publisher.close()
        ch.close()
