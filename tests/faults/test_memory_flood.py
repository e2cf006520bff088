"""A flood of events for a never-enrolled member, written straight to engagement.events (as a foreign
or backfill source would, past ingest's guards): the notifier and the metrics stream keep their
waiting rooms within bounds, and every enrolled member's numbers are those of a calm fold
(docs/security.md, "Memory bounds").

CI floods 50,000 events: with bounds of 1,000 per member and 5,000 in all that is 49,000 drops to
count exactly, which proves the bounds as well as a bigger flood would. The full acceptance (a million
events, every process's peak RSS against its Kubernetes memory limit) is `python -m bench.memory_flood`
(`make bench`; figures in bench/results.md). MEMORY_FLOOD_EVENTS sizes this test by hand."""

from __future__ import annotations

import os
import resource
import time
import uuid
from datetime import datetime, timedelta, timezone

import orjson
from fastapi.testclient import TestClient
from kafka import KafkaProducer

from contracts.events import parse_recorded_event
from contracts.members import MemberEnrolled
from services.common.waiting import WaitingRoom
from services.metrics.app import create_app as metrics_app
from services.metrics.settings import MetricsSettings
from services.metrics.state import MemberDayBook
from services.notifier.app import create_app as notifier_app
from services.notifier.settings import NotifierSettings
from services.notifier.state import NotifierState

FLOOD = int(os.environ.get("MEMORY_FLOOD_EVENTS", "50000"))
PER_MEMBER, TOTAL = 1_000, 5_000


def _wait(predicate, what: str, timeout_s: float = 900.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.5)


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def test_memory_flood_of_a_never_enrolled_member(own_broker, jwt_secret, tmp_path, fault_report):
    _, bootstrap = own_broker
    now = datetime.now(timezone.utc).replace(microsecond=0)
    run = uuid.uuid4().hex[:8]
    cohort = [f"m-{run}-{i}" for i in range(6)]
    ghost = f"ghost-{run}"
    enrolments = [MemberEnrolled(event_id=uuid.uuid4(), member_id=m, cohort=f"c-{run}", timezone="UTC",
                                 enrolled_on=(now - timedelta(days=10)).date(), occurred_at=now)
                  .model_dump_json().encode() for m in cohort]

    def event(member: str, at: datetime) -> bytes:
        return orjson.dumps({"event_id": str(uuid.uuid4()), "type": "login", "member_id": member,
                             "occurred_at": at.isoformat(), "received_at": now.isoformat(), "payload": {}})

    normal = [(m, event(m, now - timedelta(days=d, hours=i))) for i, m in enumerate(cohort) for d in range(5)]

    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, batch_size=1 << 20, acks=1)
    for m, value in zip(cohort, enrolments, strict=True):
        producer.send("members", key=m.encode(), value=value)
    step, cohort_events = max(1, FLOOD // len(normal)), iter(normal)
    for i in range(FLOOD):  # the flood, interleaved with the cohort's own events
        producer.send("engagement.events", key=ghost.encode(), value=event(ghost, now - timedelta(seconds=i % 86_400)))
        if i % step == 0 and (m_value := next(cohort_events, None)):
            producer.send("engagement.events", key=m_value[0].encode(), value=m_value[1])
    for m, value in cohort_events:
        producer.send("engagement.events", key=m.encode(), value=value)
    producer.flush(300)
    producer.close()

    # The calm reference: the same enrolled members' events folded without any flood.
    calm_notifier = NotifierState(timedelta(hours=2), timedelta(hours=24), False)
    calm_book = MemberDayBook()
    for value in enrolments:
        calm_notifier.fold_member(0, value)
        calm_book.enrol(MemberEnrolled.model_validate_json(value))
    for _, value in normal:
        calm_notifier.fold_engagement(value)
        calm_book.apply_event(parse_recorded_event(value))

    bounds = {"waiting_per_member": PER_MEMBER, "waiting_total": TOTAL}
    common = {"kafka_bootstrap": bootstrap, "jwt_secret": jwt_secret, "faust_datadir": str(tmp_path / "faust")}
    rss_before = _rss_mib()
    notifier = NotifierSettings(**common, **bounds, rebuild_idle_s=0.3, group_id=f"notifier-flood-{run}")
    metrics = MetricsSettings(**common, **bounds, clickhouse_url=f"chdb://{tmp_path / 'chdb'}", run_sink=False,
                              rollup_interval_s=0)
    with TestClient(notifier_app(notifier, run_stream=False), raise_server_exceptions=False) as n_client, \
            TestClient(metrics_app(metrics), raise_server_exceptions=False) as m_client:
        state = n_client.app.state.runtime.state
        books = m_client.app.state.faust.books

        def room_of(member):  # the waiting room of the member's partition (empty until it is read)
            book = books.book_of(member)
            return book.pending if book is not None else WaitingRoom()

        def days_of(member):
            book = books.book_of(member)
            return book.days_of.get(member, ()) if book is not None else ()

        def all_read(room) -> bool:
            ghost_seen = len(room.get(ghost) or {}) + room.dropped["member_full"] + room.dropped["total_full"]
            return ghost_seen >= FLOOD

        _wait(lambda: all_read(state.early) and all_read(room_of(ghost)), "flood not read")
        _wait(lambda: all(len(state.days.get(m, {})) == 5 for m in cohort)
              and all(len(days_of(m)) == 5 for m in cohort), "cohort not folded")
        for room in (state.early, room_of(ghost)):
            assert len(room) <= TOTAL and room.largest() <= PER_MEMBER
            assert room.dropped["member_full"] == FLOOD - PER_MEMBER
        assert {m: state.days[m] for m in cohort} == {m: calm_notifier.days[m] for m in cohort}
        assert {m: state.last_activity[m] for m in cohort} == {m: calm_notifier.last_activity[m] for m in cohort}
        days = {(m, d) for m in cohort for d in calm_book.days_of[m]}
        assert {k: books.day(*k) for k in days} == {k: calm_book.day(*k) for k in days}
        metrics_text = m_client.get("/metrics").text + n_client.get("/metrics").text
        assert "metrics_waiting_events_dropped_total" in metrics_text and "notifier_waiting_events" in metrics_text
    rss_after = _rss_mib()
    print(f"memory flood: {FLOOD} events, peak RSS {rss_before:.0f} → {rss_after:.0f} MiB")
    fault_report.add("memory flood", faults_injected=FLOOD, inputs_tried=FLOOD + len(normal), events_lost=0)
