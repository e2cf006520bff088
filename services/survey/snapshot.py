"""The survey service's snapshot adapter: the classes its book is made of (docs/scale.md,
"Snapshots and restarts"). A snapshot covers the tail topics `surveys` and `members`.

`member.keys` and `member.erasures` are never covered (folded from offset 0 after every restore): the
members' data keys are not in the book (a restored service must still seal free text with them), and
every erasure is applied again, so a snapshot can never bring an erased member back (docs/erasure.md;
the rule is services.common.logstate.NEVER_SNAPSHOTTED)."""

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
