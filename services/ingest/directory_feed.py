"""Keeps ingest's `Directory` current: tails `members`, `clock.ticks` and `member.erasures` from offset 0 (aiokafka,
no consumer group: every replica reads every partition) for as long as the process runs.

Ready once caught up, by the rule of the shared log tail (services.common.logstate): past the end
offsets reported at start (tansu reports them one batch short), then quiet for `idle_s` or, under
steady traffic that never goes quiet, 10 such periods. Until then ingest answers 503 to the requests
that need it.
"""

from __future__ import annotations

import orjson
from pydantic import ValidationError

from contracts.clock import ClockTick
from contracts.erasure import MemberErased
from contracts.members import parse_member_record
from contracts.topics import CLOCK_TICKS, MEMBER_ERASURES, MEMBERS
from services.common.logging import log
from services.common.logstate import LogTail

from .directory import Directory
from .telemetry import DIRECTORY_MEMBERS, DIRECTORY_RECORDS

TOPICS = (MEMBERS.name, CLOCK_TICKS.name, MEMBER_ERASURES.name)


class DirectoryFeed:
    def __init__(self, bootstrap: str, directory: Directory, idle_s: float = 0.5) -> None:
        self.directory = directory
        self.tail = LogTail("ingest-directory", bootstrap, TOPICS, self.fold, idle_s, self._on_ready)
        self.ready = self.tail.rebuilt

    def start(self) -> None:
        self.tail.start()

    async def stop(self) -> None:
        await self.tail.stop()

    def fold(self, topic: str, partition: int, value: bytes | None) -> None:
        try:
            if topic == CLOCK_TICKS.name:
                self.directory.fold_tick(ClockTick.model_validate_json(value or b"").now)
            elif topic == MEMBER_ERASURES.name:
                self.directory.fold_erased(MemberErased.model_validate_json(value or b"").member_id)
                DIRECTORY_MEMBERS.set(len(self.directory.members))
            else:
                self.directory.fold(parse_member_record(value or b""))
                DIRECTORY_MEMBERS.set(len(self.directory.members))
            DIRECTORY_RECORDS.labels(topic, "folded").inc()
        except (ValidationError, orjson.JSONDecodeError, ValueError) as exc:
            DIRECTORY_RECORDS.labels(topic, "invalid").inc()
            # The error's location and kind only: a record's values may be member data.
            where = exc.errors(include_input=False)[0]["loc"] if isinstance(exc, ValidationError) else ()
            log.warning("directory_record_invalid", topic=topic, error=type(exc).__name__, loc=list(where))

    def _on_ready(self) -> None:
        log.info("ingest_directory_ready", members=len(self.directory.members),
                 seconds=round(self.tail.rebuild_seconds or 0.0, 3))
