"""Issue 14 item 11, erasure (docs/erasure.md), against the real broker and the real ClickHouse engine.

A member is erased mid-study through ingest's admin API. Afterwards no ClickHouse table (live, then
after a rebuild from offset 0) holds the member's id, ingest refuses the member's events and a second
erasure, the member's data key is a tombstone on the log (the log's free text cannot be opened), and
every published cohort number and every other member's numbers are unchanged, live and rebuilt.
"""

from __future__ import annotations

import asyncio
import time

from aiokafka import AIOKafkaConsumer, TopicPartition

from contracts.topics import MEMBER_ERASURES, MEMBER_KEYS
from services.common.member_keys import ERASED_TEXT, KeyRing, encrypt
from services.metrics import queries
from services.metrics.clickhouse import connect
from services.metrics.rebuild import rebuild
from services.metrics.rows import CONVERTERS
from services.metrics.schema import TABLE_SCHEMAS, migrate
from services.metrics.sink import Sink
from services.metrics.tests.conftest import ingest_client, send_cohort, unique_prefix, wait_until_sunk
from testsupport.cohort import generate


def _published(ch, cohort: str) -> dict:
    """Every number the metrics API publishes for the cohort (the member list keyed by member id)."""
    return {
        "weekly": {d: [w.model_dump() for w in queries.weekly(ch, cohort, d)] for d in ("followup", "enrolled")},
        "summary": queries.summary(ch, cohort).model_dump(),
        "members": {m.member_id: m.model_dump(exclude={"member_id"}) for m in queries.members(ch, cohort)},
    }


def _tables_naming(ch, text: str) -> dict[str, int]:
    """Rows, per table of the database, whose any column (as text) contains `text`."""
    found = {}
    for t in ch.query("SELECT name FROM system.tables WHERE database = currentDatabase() AND NOT is_temporary "
                      "AND engine NOT IN ('MaterializedView', 'View')"):
        name = t["name"]
        columns = [c["name"] for c in ch.query(
            "SELECT name FROM system.columns WHERE database = currentDatabase() AND table = {t:String} "
            "AND type NOT LIKE 'AggregateFunction%'", {"t": name})]
        if not columns:
            continue
        as_text = ", ".join(f"toString({c})" for c in columns)
        n = ch.query(f"SELECT count() AS n FROM {name} WHERE position(concat({as_text}), {{x:String}}) > 0",
                     {"x": text})[0]["n"]
        if n:
            found[name] = n
    return found


def _same_but_renamed(before: dict, after: dict, erased: str) -> None:
    """`after` is `before` with the erased member's entry under one new, unknown id."""
    assert after["weekly"] == before["weekly"] and after["summary"] == before["summary"]
    others = {m: v for m, v in before["members"].items() if m != erased}
    assert {m: v for m, v in after["members"].items() if m in others} == others
    renamed = [m for m in after["members"] if m not in before["members"]]
    assert len(renamed) == 1 and after["members"][renamed[0]] == before["members"][erased]
    assert erased not in after["members"]


async def _read_topic(bootstrap: str, topic: str) -> list[tuple[bytes | None, bytes | None]]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                                auto_offset_reset="earliest")
    await consumer.start()
    try:
        await consumer.topics()
        parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        out, quiet = [], 0
        while quiet < 5:
            batch = await consumer.getmany(timeout_ms=200)
            quiet = 0 if any(batch.values()) else quiet + 1
            out += [(r.key, r.value) for records in batch.values() for r in records]
        return out
    finally:
        await consumer.stop()


def test_erasure_mid_study(own_broker, jwt_secret, mint, tmp_path, fault_report):
    _, bootstrap = own_broker
    admin = {"Authorization": f"Bearer {mint('ops', 'admin')}"}
    prefix = unique_prefix()
    g = generate(seed=5, members=6, weeks=4, cohort=f"erase-{prefix}", prefix=prefix)
    victim = g.enrolments[0]["member_id"]
    half = len(g.deliveries) // 2
    first = [d for d in g.deliveries[:half]]
    later = [d for d in g.deliveries[half:] if d["member_id"] != victim]
    ch = connect(f"chdb://{tmp_path / 'chdb'}")
    migrate(ch)

    note = "called: patient reports nausea after cycle 2"

    async def key_ring() -> KeyRing:
        ring = KeyRing()
        for k, value in await _read_topic(bootstrap, MEMBER_KEYS.name):
            ring.fold(k.decode(), value)
        return ring

    async def scenario(ingest) -> None:
        sink = Sink(ch, bootstrap, CONVERTERS, TABLE_SCHEMAS, poll_ms=50)
        await sink.start()
        try:
            send_cohort(ingest, mint("ops", "admin"), g, stop=half, tick=False)
            assert ingest.post("/v1/admin/clock", json={"now": g.now.isoformat()}, headers=admin).status_code == 202
            await asyncio.to_thread(wait_until_sunk, ch, _as_half(g, first), prefix)
            before = _published(ch, g.cohort)
            # Ingest wrote each member's data key at enrolment; a call note of the victim is encrypted
            # with it, as the notifier writes notes (docs/erasure.md), and opens while the key lives.
            ring = await key_ring()
            assert len(ring) == len(g.enrolments)
            sealed = encrypt(ring.get(victim), note)
            assert note not in sealed and ring.read(victim, sealed) == note
            assert victim in before["members"] and _tables_naming(ch, victim)

            r = ingest.delete(f"/v1/members/{victim}", headers=admin)
            assert r.status_code == 202, r.text
            assert r.json()["member_id"] == victim and r.json()["type"] == "member.erased"
            again = ingest.delete(f"/v1/members/{victim}", headers=admin)
            assert again.status_code == 404 and victim not in again.text
            victim_event = next(d for d in g.deliveries[half:] if d["member_id"] == victim)
            r = ingest.post("/v1/events", json=[victim_event], headers=admin)
            assert r.status_code == 202 and r.json()["accepted"] == 0 and "not_enrolled" in r.text
            r = ingest.post("/v1/enrollments", json=g.enrolments[0], headers=admin)
            assert r.status_code == 409

            deadline = time.monotonic() + 60
            while _tables_naming(ch, victim):
                assert time.monotonic() < deadline, f"still named: {_tables_naming(ch, victim)}"
                await asyncio.sleep(0.2)
            _same_but_renamed(before, _published(ch, g.cohort), victim)

            # The study goes on for everyone else.
            for i in range(0, len(later), 500):
                assert ingest.post("/v1/events", json=later[i:i + 500], headers=admin).status_code == 202
            assert ingest.post("/v1/admin/clock", json={"now": g.now.isoformat()}, headers=admin).status_code == 202
            await asyncio.to_thread(wait_until_sunk, ch, _as_half(g, [d for d in first + later if d["member_id"] != victim]),
                                    prefix)
            live = _published(ch, g.cohort)
            assert not _tables_naming(ch, victim)
        finally:
            await sink.stop()
        return sealed, live

    async def after(sealed: str, live: dict) -> None:
        # A rebuild from offset 0 applies the erasure again: same numbers, the id nowhere.
        await rebuild(ch, bootstrap, idle_s=2.0)
        assert not _tables_naming(ch, victim)
        rebuilt = _published(ch, g.cohort)
        assert rebuilt["weekly"] == live["weekly"] and rebuilt["summary"] == live["summary"]
        others = {m: v for m, v in live["members"].items() if not m.startswith("erased-")}
        assert {m: v for m, v in rebuilt["members"].items() if not m.startswith("erased-")} == others
        assert sorted(v.items() for m, v in rebuilt["members"].items() if m.startswith("erased-")) == \
            sorted(v.items() for m, v in live["members"].items() if m.startswith("erased-"))

        # The log tail: the victim's key ends in a tombstone, so the note no longer opens.
        ring = await key_ring()
        assert ring.get(victim) is None and len(ring) == len(g.enrolments) - 1 and ring.read(victim, sealed) == ERASED_TEXT
        assert note not in ring.read(victim, sealed)
        erasures = await _read_topic(bootstrap, MEMBER_ERASURES.name)
        assert len(erasures) == 1

    with ingest_client(bootstrap, jwt_secret) as ingest:
        sealed, live = asyncio.run(scenario(ingest))
    asyncio.run(after(sealed, live))
    fault_report.add("erasure", faults_injected=1, requests_refused_correctly=3, events_lost=0, duplicates_counted=0)


def _as_half(g, deliveries):
    """The generated cohort as if only `deliveries` had been sent (what `wait_until_sunk` waits for)."""
    from dataclasses import replace

    return replace(g, deliveries=deliveries)
