"""The Python client against the real ingest API (over HTTP) and the real broker."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from carecircle_client import CareCircleClient, ClientError
from services.common.broker import free_port

from .conftest import flush_all, landed_ids
from .live_ingest import Fault

CLIENT_DIR = Path(__file__).resolve().parents[1]


def new_client(url, token, **options):
    sleeps = []
    client = CareCircleClient(url, token, flush_interval_s=None, sleep=sleeps.append, **options)
    return client, sleeps


def sent_ids(body: bytes) -> list[str]:
    return [event["event_id"] for event in json.loads(body)]


def test_a_batch_is_split_at_500_and_each_event_lands_once(ingest, member, broker):
    member_id, token = member
    client, _ = new_client(ingest.url, token)
    ids = [client.track_checkin("meal", steps=i) for i in range(1_200)]
    accepted, rejected = flush_all(client)
    assert (accepted, rejected) == (1_200, [])
    assert [len(json.loads(b)) for b in ingest.gate.bodies] == [500, 500, 200]
    assert sorted(landed_ids(broker, ids, 1_200)) == sorted(ids)
    assert len(client.queue) == 0


def test_a_503_midway_resends_the_same_batch_and_each_event_counts_once(ingest, member, broker):
    member_id, token = member
    ingest.gate.faults[1] = Fault(503, retry_after=2)  # the second batch
    client, sleeps = new_client(ingest.url, token)
    ids = [client.track_login() for _ in range(1_000)]
    accepted, _ = flush_all(client)
    assert accepted == 1_000
    assert ingest.gate.statuses == [202, 503, 202]
    assert ingest.gate.bodies[1] == ingest.gate.bodies[2]  # same ids, same occurred_at, byte for byte
    assert sent_ids(ingest.gate.bodies[1]) == ids[500:]
    assert sleeps == [2.0]  # Retry-After honoured
    assert sorted(landed_ids(broker, ids, 1_000)) == sorted(ids)


def test_a_429_waits_for_retry_after(ingest, member, broker):
    member_id, token = member
    ingest.gate.faults[0] = Fault(429, retry_after=7)
    client, sleeps = new_client(ingest.url, token)
    ids = [client.track_meditation_play("breath-1", seconds=300, completed=True) for _ in range(3)]
    accepted, _ = flush_all(client)
    assert accepted == 3 and sleeps == [7.0]
    assert ingest.gate.statuses == [429, 202]
    assert sorted(landed_ids(broker, ids, 3)) == sorted(ids)


def test_an_invalid_event_is_reported_and_dropped_while_the_valid_ones_land(ingest, member, broker):
    member_id, token = member
    reported = []
    client, _ = new_client(ingest.url, token, on_rejected=reported.append)
    good = [client.track_post("community", topic="fatigue"), client.track_checkin("exercise")]
    bad = client.track_post("megaphone")  # not a channel
    good.append(client.track_login())
    accepted, rejected = flush_all(client)
    assert accepted == 3
    assert [r.event["event_id"] for r in rejected] == [bad] == [r.event["event_id"] for r in reported]
    assert "channel" in rejected[0].errors[0]["loc"]
    assert len(client.queue) == 0  # dropped: resending would fail the same way
    assert sorted(landed_ids(broker, good + [bad], 3)) == sorted(good)


def test_a_batch_of_only_invalid_events_is_reported_not_retried(ingest, member):
    member_id, token = member
    client, sleeps = new_client(ingest.url, token)
    bad = client.track_checkin("meal", steps=-1)
    result = client.flush()
    assert [r.event["event_id"] for r in result.rejected] == [bad]
    assert (result.accepted, result.pending, sleeps) == (0, 0, [])


def test_network_down_keeps_the_events_and_retries_with_backoff(member):
    member_id, token = member
    client, sleeps = new_client(f"http://127.0.0.1:{free_port()}", token, max_attempts=3)
    client.track_login()
    with pytest.raises(ClientError, match="1 events kept"):
        client.flush()
    assert len(sleeps) == 2 and len(client.queue) == 1


def test_a_killed_process_loses_no_queued_event(ingest, member, broker, tmp_path):
    """An app tracks while offline and is killed (SIGKILL, no clean shutdown); the next run sends all."""
    member_id, token = member
    queue = tmp_path / "queue.sqlite"
    script = (
        "import os, signal, sys\n"
        "from carecircle_client import CareCircleClient\n"
        "client = CareCircleClient(sys.argv[1], sys.argv[2], queue_path=sys.argv[3], flush_interval_s=None)\n"
        "ids = [client.track_checkin('meal') for _ in range(40)]\n"
        "print(' '.join(ids), flush=True)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    offline = f"http://127.0.0.1:{free_port()}"
    run = subprocess.run([sys.executable, "-c", script, offline, token, str(queue)], capture_output=True, text=True,
                         env=dict(os.environ, PYTHONPATH=str(CLIENT_DIR)), timeout=120)
    assert run.returncode == -signal.SIGKILL, run.stderr
    ids = run.stdout.split()
    assert len(ids) == 40
    client, _ = new_client(ingest.url, token, queue_path=queue)
    accepted, _ = flush_all(client)
    assert accepted == 40
    assert sorted(landed_ids(broker, ids, 40)) == sorted(ids)
    client.close()


def test_events_keep_the_time_they_were_tracked_at(ingest, member, broker):
    from datetime import datetime, timedelta, timezone

    member_id, token = member
    client, _ = new_client(ingest.url, token)
    when = datetime.now(timezone.utc) - timedelta(hours=3)
    event_id = client.track_checkin("meal", occurred_at=when)
    flush_all(client)
    body = json.loads(ingest.gate.bodies[-1])[0]
    assert body["event_id"] == event_id and datetime.fromisoformat(body["occurred_at"]) == when


def test_the_background_flusher_sends_on_time_without_a_flush_call(ingest, member, broker):
    import time

    member_id, token = member
    client = CareCircleClient(ingest.url, token, flush_interval_s=0.2)
    ids = [client.track_login(), client.track_checkin("meal")]
    deadline = time.monotonic() + 30
    while len(client.queue):
        assert time.monotonic() < deadline, "the background flusher never sent the queue"
        time.sleep(0.1)
    assert sorted(landed_ids(broker, ids, 2)) == sorted(ids)
    client.close()


def test_events_of_a_member_not_enrolled_yet_stay_queued(ingest, mint):
    token = mint("cl-never-enrolled", "member")
    client, _ = new_client(ingest.url, token)
    client.track_login()
    result = client.flush()
    assert (result.accepted, result.rejected, result.pending) == (0, [], 1)


def test_the_example_script_sends_a_day(ingest, member, broker, tmp_path, capsys):
    import runpy

    member_id, token = member
    example = runpy.run_path(str(CLIENT_DIR.parent / "examples" / "send_a_day.py"))
    assert example["main"](ingest.url, token, str(tmp_path / "queue.sqlite")) == 0
    assert "accepted 5, rejected 0, still queued 0" in capsys.readouterr().out
