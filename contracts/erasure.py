"""Erasure (docs/erasure.md): per-member data keys on the compacted `member.keys` topic, and the
`member.erased` event on `member.erasures`.

Free text about a member (call notes, survey free text, message bodies) is written encrypted with the
member's data key (AES-256-GCM, `services.common.member_keys`). Erasing a member writes the key's
tombstone (a null value under the member's key on `member.keys`, so compaction drops the key and the
text on the log can never be read again) and one `member.erased`, on which every consumer re-keys the
member's rows and state to a random pseudonym that is never recorded.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .common import CohortId, EventId, MemberId, StrictModel, Timestamp


class MemberKey(StrictModel):
    """A member's data key (value on `member.keys`, key = member id). Written once, before the first
    free text of the member is encrypted; a null value under the same key is the erasure tombstone."""

    type: Literal["member.key"] = "member.key"
    member_id: MemberId
    key: str = Field(min_length=44, max_length=44, description="base64 of a 32-byte AES-256-GCM key")
    key_id: str = Field(min_length=1, max_length=64, description="Names this key in ciphertexts (rotation)")
    created_at: Timestamp


class MemberErased(StrictModel):
    """The member was erased: every consumer drops the member's identity (re-keys rows and state to a
    random, unrecorded pseudonym; the day facts stay, so published numbers are unchanged)."""

    type: Literal["member.erased"] = "member.erased"
    event_id: EventId
    member_id: MemberId
    cohort: CohortId | None = Field(default=None, description="The member's cohort when known to ingest")
    occurred_at: Timestamp
