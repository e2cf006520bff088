"""SNAPSHOTS_ENABLED=0 writes no snapshot, not even at a clean stop (docs/scale.md, "When snapshots
are written"). Found by bench/restart.py: its full-replay start wrote one at stop, and the measured
restart then restored that one instead of the snapshot under test."""

from __future__ import annotations

from contracts.topics import SURVEY_SNAPSHOTS
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
