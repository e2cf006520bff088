"""SNAPSHOTS_ENABLED=0 writes no snapshot, not even at a clean stop (docs/scale.md, "When snapshots
are written"). Found by bench/restart.py: its full-replay start wrote one at stop, and the measured
restart then restored that one instead of the snapshot under test."""

from __future__ import annotations

import pytest

from contracts.topics import SURVEY_SNAPSHOTS
from services.common import snapshots
from services.common.broker import free_port
from services.common.snapshots import Snapshotter
from services.survey.snapshot import CODEC


async def test_a_disabled_snapshotter_captures_and_writes_nothing():
    captured = []
    snapshotter = Snapshotter("survey", "survey", SURVEY_SNAPSHOTS, "127.0.0.1:1", CODEC,
                              capture=lambda: captured.append(1) or {}, restore=lambda data: None,
                              every_records=100, every_s=1.0, enabled=False)
    snapshotter.folded(10)
    assert await snapshotter.save({("surveys", 0): 10}) is False
    assert captured == [] and not snapshotter._publisher.opened


async def test_no_snapshot_producer_is_started_while_the_broker_refuses_connections(monkeypatch):
    """A stop during a broker outage saves a snapshot: it must not wait for a producer that cannot start
    (kafka-python's bootstrap waits up to 30 s in a thread, and the process's exit waits for that thread)."""
    started = []
    monkeypatch.setattr(snapshots, "Publisher", lambda *a, **k: started.append(a) or pytest.fail("producer started"))
    snapshotter = Snapshotter("survey", "survey", SURVEY_SNAPSHOTS, f"127.0.0.1:{free_port()}", CODEC,
                              capture=lambda: {}, restore=lambda data: None, every_records=100, every_s=1.0)
    snapshotter.folded(10)
    assert await snapshotter.save({("surveys", 0): 10}) is False
    assert started == [] and snapshotter.folded_since == 10  # the records still count towards the next save
