"""The notifier's snapshot adapter: which classes its state is made of, and which tail topics a
snapshot covers (docs/scale.md, "Snapshots and restarts").

`member.keys` and `member.erasures` are never covered: members' data keys must not be copied into
snapshots (erasure destroys a key by its tombstone on `member.keys`), and every erasure is applied
again after a restore, so a snapshot can never bring an erased member back.
"""

from __future__ import annotations

from contracts.engagement import DayEngagement
from contracts.timeline import FollowUp, MemberTimeline, SettingsHistory, ZoneHistory
from contracts.topics import MEMBER_ERASURES, MEMBER_KEYS, NOTIFIER_SNAPSHOTS
from services.common.dedup import SeenIds
from services.common.snapshot_codec import StateCodec
from services.common.snapshots import Snapshotter

from .queue import AlertView, Call, CallQueue
from .settings import NotifierSettings
from .state import NotifierState
from .symptoms import Scored

CODEC = StateCodec(NotifierState.SNAPSHOT_VERSION, [MemberTimeline, ZoneHistory, FollowUp, SettingsHistory,
                                                    DayEngagement, CallQueue, AlertView, Call, Scored, SeenIds])
NEVER_SNAPSHOTTED = frozenset({MEMBER_KEYS.name, MEMBER_ERASURES.name})


def snapshotter(settings: NotifierSettings, state: NotifierState) -> Snapshotter:
    return Snapshotter("notifier", "notifier", NOTIFIER_SNAPSHOTS, settings.kafka_bootstrap, CODEC,
                       capture=state.to_snapshot, restore=state.restore,
                       every_records=settings.snapshot_every_records, every_s=settings.snapshot_every_s,
                       enabled=settings.snapshots_enabled)
