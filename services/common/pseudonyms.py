"""Erasure's re-keying helpers shared by every consumer of `member.erased` (docs/erasure.md). Pure: no I/O.

An erased member's state is moved to a random pseudonym that is never recorded (no topic, log line or
table holds the pair). `Aliases` keeps, for the life of one process only, id → pseudonym so that a
record of the id read after the erasure (the topics are read in parallel; a rebuild reads them all)
follows the pseudonym instead of bringing the id back. Ids derived from the member id (uuid5 alert or
invitation ids) would let anyone holding the id recompute the link, so they get random replacements too.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import replace

from contracts.timeline import MemberTimeline

PREFIX = "erased-"


def new_pseudonym() -> str:
    """Random (not derived from the id, so no one can recompute it) and valid as a member id."""
    return PREFIX + secrets.token_hex(12)


def renamed_timeline(timeline: MemberTimeline, pseudonym: str) -> MemberTimeline:
    """The member's timeline (enrolment records included) under `pseudonym`; the dates stay."""
    return replace(timeline, member_id=pseudonym,
                   enrolment=timeline.enrolment.model_copy(update={"member_id": pseudonym}),
                   first_enrolment=timeline.first_enrolment.model_copy(update={"member_id": pseudonym}))


class Aliases:
    """Erased member id → pseudonym, and member-derived ids → random ids, in this process's memory only.
    The map is never snapshotted or logged: a snapshot keeps only the pseudonyms (`renamed`), and the
    erasures read again from `member.erasures` give the ids read later new pseudonyms (never the id)."""

    def __init__(self) -> None:
        self._members: dict[str, str] = {}
        self._ids: dict[uuid.UUID, uuid.UUID] = {}
        self._pseudonyms: set[str] = set()

    def erase(self, member_id: str) -> tuple[str, bool]:
        """(the member's pseudonym, True when this call assigned it)."""
        known = self._members.get(member_id)
        if known is not None:
            return known, False
        pseudonym = self._members[member_id] = new_pseudonym()
        self._pseudonyms.add(pseudonym)
        return pseudonym, True

    def member(self, member_id: str) -> str | None:
        """The pseudonym of an erased member (None: not erased)."""
        return self._members.get(member_id) if self._members else None

    def is_erased(self, member_id: str) -> bool:
        return member_id in self._members

    def is_renamed(self, member_id: str) -> bool:
        """Is this one of the pseudonyms handed out here (its state is frozen: no new decisions)."""
        return member_id in self._pseudonyms

    def renamed(self) -> set[str]:
        """The pseudonyms handed out (no id in them): what a snapshot keeps, so that a restored state
        still knows which of its members are frozen."""
        return set(self._pseudonyms)

    def adopt(self, pseudonyms) -> None:
        """Pseudonyms of a restored snapshot: frozen like those handed out here (their ids stay unknown)."""
        self._pseudonyms.update(pseudonyms)

    def id_for(self, derived: uuid.UUID) -> uuid.UUID:
        """The random stand-in of an id derived from an erased member's id (the same one every time)."""
        return self._ids.setdefault(derived, uuid.uuid4())

    def __len__(self) -> int:
        return len(self._members)
