"""Snapshots under erasure against the real broker (docs/erasure.md, "Snapshots"): a notifier or survey
started from a snapshot still holds every member's data key (keys are folded from offset 0, never
snapshotted: a restored survey must seal free text), applies every erasure again, and neither its
state nor its next snapshot names an erased member."""

from __future__ import annotations

from datetime import datetime, timezone
from uuid import uuid4

import pytest

from contracts.erasure import MemberErased
from contracts.topics import MEMBER_ERASURES, MEMBER_KEYS
from services.common.kafka import Publisher, Record
from services.common.member_keys import new_member_key
from testsupport.records import enrolments

from .test_snapshots import SERVICES, _encoded, _run

AT = datetime(2026, 11, 2, 9, tzinfo=timezone.utc)


def _keys(members: range) -> list[Record]:
    return [Record(MEMBER_KEYS.name, f"m-{i}".encode(), new_member_key(f"m-{i}").model_dump_json().encode())
            for i in members]


def _erasure(member: str) -> list[Record]:
    erased = MemberErased(event_id=uuid4(), member_id=member, occurred_at=AT)
    return [Record(MEMBER_KEYS.name, member.encode(), None),
            Record(MEMBER_ERASURES.name, member.encode(), erased.model_dump_json().encode())]


@pytest.mark.parametrize("service", sorted(SERVICES))
async def test_a_restored_service_keeps_the_keys_and_every_erasure(service, own_broker, jwt_secret, tmp_path):
    runtime_class, settings_class, _, state_of, _ = SERVICES[service]
    _, bootstrap = own_broker
    settings = settings_class(kafka_bootstrap=bootstrap, jwt_secret=jwt_secret, rebuild_idle_s=0.3,
                              faust_datadir=str(tmp_path), snapshot_every_records=100, snapshot_every_s=60)
    publisher = Publisher(bootstrap)
    await publisher.publish(_keys(range(0, 10)) + enrolments(range(0, 10)) + _erasure("m-3"))
    await _run(runtime_class, settings)  # writes the first snapshot (after the erasure)
    await publisher.publish(_keys(range(10, 14)) + enrolments(range(10, 14)) + _erasure("m-11"))
    restored = await _run(runtime_class, settings)
    publisher.close()
    assert restored.snapshotter.restored, "the second start restores the snapshot the first one wrote"
    assert len(restored.keys) == 12 and restored.keys.get("m-3") is None and restored.keys.get("m-11") is None
    state = state_of(restored)
    assert not {"m-3", "m-11"} & set(state.members) and len(state.members) == 14
    assert len(state.aliases.renamed() & set(state.members)) == 2  # both pseudonyms frozen, one from the snapshot
    encoded = _encoded(service, restored)
    assert '"m-3"' not in encoded and '"m-11"' not in encoded and '"m-4"' in encoded
