"""State snapshots of the stream services (docs/scale.md, "Snapshots and restarts").

A stateful service (notifier, survey, metrics stream) writes its folded state now and then to its
compacted snapshot topic, with the next offset of every input partition the state covers. A restart
loads the newest snapshot and reads the log after those offsets instead of from offset 0.

The envelope is a validated contract; the state inside is the service's own, encoded by
`services.common.snapshots` (zlib-compressed JSON, base64) and named by `state_version`, a digest of
the state's shape: a snapshot written by a build with another state shape is refused (full replay).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .common import StrictModel, Timestamp

SNAPSHOT_FORMAT = 1  # the envelope's layout; a reader refuses any other


class SnapshotOffset(StrictModel):
    """The state holds every record of `topic`/`partition` before `next_offset`."""

    topic: str = Field(min_length=1, max_length=249)
    partition: int = Field(ge=0)
    next_offset: int = Field(ge=0)


class ServiceSnapshot(StrictModel):
    """One snapshot (value on `<service>.snapshots`, key = `scope`)."""

    type: Literal["service.snapshot"] = "service.snapshot"
    format: int = Field(description="Envelope layout; readers accept only the one they know")
    service: str = Field(pattern=r"^[a-z][a-z0-9_-]{0,31}$")
    scope: str = Field(pattern=r"^[a-z][a-z0-9_.:-]{0,63}$", description="What the state covers (the record key)")
    state_version: str = Field(min_length=1, max_length=80, description="Digest of the state's shape")
    offsets: list[SnapshotOffset] = Field(description="Next offset per input partition the state covers")
    written_at: Timestamp
    encoding: Literal["zlib+json+base64"] = "zlib+json+base64"
    state_sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="Of the compressed state bytes")
    state: str = Field(description="The encoded state")
