"""The notifier's snapshot adapter: which classes its state is made of (docs/scale.md, "Snapshots and
restarts"). Like every log-state service, a snapshot never covers `member.keys` and `member.erasures`
(services.common.logstate.NEVER_SNAPSHOTTED)."""

from __future__ import annotations

from contracts.engagement import DayEngagement
from contracts.timeline import FollowUp, MemberTimeline, SettingsHistory, ZoneHistory
from contracts.topics import NOTIFIER_SNAPSHOTS
from services.common.dedup import SeenIds
from services.common.snapshot_codec import StateCodec
from services.common.snapshots import Snapshotter

from .queue import AlertView, Call, CallQueue
from .settings import NotifierSettings
from .state import NotifierState
from .symptoms import Scored

CODEC = StateCodec(NotifierState.SNAPSHOT_VERSION, [MemberTimeline, ZoneHistory, FollowUp, SettingsHistory,
                                                    DayEngagement, CallQueue, AlertView, Call, Scored, SeenIds])


def snapshotter(settings: NotifierSettings, state: NotifierState) -> Snapshotter:
    return Snapshotter("notifier", "notifier", NOTIFIER_SNAPSHOTS, settings.kafka_bootstrap, CODEC,
                       capture=state.to_snapshot, restore=state.restore,
                       every_records=settings.snapshot_every_records, every_s=settings.snapshot_every_s,
                       enabled=settings.snapshots_enabled)
