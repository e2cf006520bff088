"""The survey service's snapshot adapter: the classes its book is made of (docs/scale.md,
"Snapshots and restarts"). A snapshot covers `surveys` and `members`; `member.keys` and
`member.erasures` are read from offset 0 at every start (services.common.logstate.NEVER_SNAPSHOTTED)."""

from __future__ import annotations

from contracts.timeline import FollowUp, MemberTimeline, ZoneHistory
from contracts.topics import SURVEY_SNAPSHOTS
from services.common.snapshot_codec import StateCodec
from services.common.snapshots import Snapshotter

from .settings import SurveySettings
from .state import Invitation, SurveyBook

CODEC = StateCodec(SurveyBook.SNAPSHOT_VERSION, [Invitation, MemberTimeline, ZoneHistory, FollowUp])


def snapshotter(settings: SurveySettings, book: SurveyBook) -> Snapshotter:
    return Snapshotter("survey", "survey", SURVEY_SNAPSHOTS, settings.kafka_bootstrap, CODEC,
                       capture=book.to_snapshot, restore=book.restore,
                       every_records=settings.snapshot_every_records, every_s=settings.snapshot_every_s,
                       enabled=settings.snapshots_enabled)
