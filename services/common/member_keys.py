"""Per-member data keys: free text is encrypted with its member's key, erasure destroys the key
(crypto-shredding, docs/erasure.md).

Ciphertexts are self-describing strings `enc:v1:<key_id>:<base64(nonce || ciphertext+tag)>` (AES-256-GCM,
12-byte random nonce) with the member id as associated data, so a text cannot be moved to another
member's record and still decrypt. Pure functions and an in-memory key ring folded from `member.keys`;
no I/O here.
"""

from __future__ import annotations

import base64
import os
import uuid
from datetime import datetime, timezone

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from contracts.erasure import MemberKey

PREFIX = "enc:v1:"
ERASED_TEXT = "[erased]"  # what a reader shows for text whose key was destroyed


class UnreadableText(ValueError):
    """The text is not ours, was tampered with, or its key is gone (the member was erased)."""


def new_member_key(member_id: str, now: datetime | None = None) -> MemberKey:
    return MemberKey(member_id=member_id, key=base64.b64encode(AESGCM.generate_key(bit_length=256)).decode(),
                     key_id=uuid.uuid4().hex, created_at=now or datetime.now(timezone.utc))


def encrypt(key: MemberKey, text: str) -> str:
    nonce = os.urandom(12)
    sealed = AESGCM(base64.b64decode(key.key)).encrypt(nonce, text.encode(), key.member_id.encode())
    return f"{PREFIX}{key.key_id}:{base64.b64encode(nonce + sealed).decode()}"


def is_encrypted(value: str) -> bool:
    return value.startswith(PREFIX)


def decrypt(key: MemberKey | None, member_id: str, value: str) -> str:
    """The plain text; `UnreadableText` when the key is gone or does not open it."""
    if not is_encrypted(value):
        raise UnreadableText("not an encrypted text")
    key_id, _, blob = value[len(PREFIX):].partition(":")
    if key is None or key.key_id != key_id or key.member_id != member_id:
        raise UnreadableText("no key for this text (erased member?)")
    try:
        raw = base64.b64decode(blob, validate=True)
        return AESGCM(base64.b64decode(key.key)).decrypt(raw[:12], raw[12:], member_id.encode()).decode()
    except (InvalidTag, ValueError) as exc:
        raise UnreadableText("the text does not open with the member's key") from exc


class KeyRing:
    """The live keys, folded from `member.keys` (a None value is a tombstone: the key is destroyed)."""

    def __init__(self) -> None:
        self._keys: dict[str, MemberKey] = {}
        # Members erased while this ring was folded: a key record read after the erasure (topics read in
        # parallel, or a key not compacted away yet) must not bring the key back.
        self._destroyed: set[str] = set()

    def fold(self, member_id: str, value: bytes | None) -> None:
        if value is None:
            self.destroy(member_id)
        else:
            key = MemberKey.model_validate_json(value)
            if key.member_id not in self._destroyed:
                self._keys.setdefault(key.member_id, key)  # the first key written is the member's key

    def destroy(self, member_id: str) -> None:
        """The member was erased (a tombstone on `member.keys`, or `member.erased`)."""
        self._destroyed.add(member_id)
        self._keys.pop(member_id, None)

    def seal(self, member_id: str, text: str | None) -> str | None:
        """Free text as it is written: encrypted with the member's key; plain when the member has none
        (enrolled before keys existed); refused (`UnreadableText`) when the member was erased."""
        if text is None:
            return None
        if member_id in self._destroyed:
            raise UnreadableText("member erased")
        key = self._keys.get(member_id)
        return encrypt(key, text) if key is not None else text

    def get(self, member_id: str) -> MemberKey | None:
        return self._keys.get(member_id)

    def read(self, member_id: str, value: str) -> str:
        """The text for a staff reader: plain, or `[erased]` when it cannot be opened any more."""
        if not is_encrypted(value):
            return value
        try:
            return decrypt(self.get(member_id), member_id, value)
        except UnreadableText:
            return ERASED_TEXT

    def __len__(self) -> int:
        return len(self._keys)
