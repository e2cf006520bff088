"""Which member partitions one metrics stream worker owns, and how far it has applied each (pure).

The metrics stream runs as N workers in ONE stable consumer group (`METRICS_GROUP_ID`): the group
splits the member-keyed topics by partition, and faust assigns a partition number's records of every
topic (events, members, erasures, ticks: co-partitioned, same count, same key) to the same worker.
A worker's member-day state therefore holds exactly the members of the partitions it owns
(docs/scale.md, "The metrics stream"):

* a partition this worker gains is read from offset 0 again, not from the group's committed offset:
  the state is rebuilt from the log, never taken from a changelog or from another worker;
* a partition it keeps is read on from the offset it has applied (its own position, exact);
* a partition it loses is forgotten: its members leave the state, so the worker never publishes a
  stale day of a member that another worker now owns;
* a record below the applied position (faust is at-least-once) is a re-delivery and is skipped;
* while a gained partition is being rebuilt, its events may be read before their members' enrolments
  (the topics are read side by side), so its waiting events are not dead-lettered until its member
  and event topics have caught up with the log end once (`caught_up`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping

from kafka.partitioner.default import murmur2

from contracts.topics import MEMBER_PARTITIONS


def default_partition(member_id: str, partitions: int = MEMBER_PARTITIONS) -> int:
    """The partition Kafka's default partitioner (murmur2, as every CareCircle producer uses) gives a key."""
    return (murmur2(member_id.encode()) & 0x7FFFFFFF) % partitions


class Ownership:
    def __init__(self) -> None:
        self.owned: set[int] = set()
        self.positions: dict[tuple[str, int], int] = {}  # (topic, partition) → next offset to apply
        self.members_of: dict[int, set[str]] = defaultdict(set)  # partition → member ids read from it
        self.rebuilding: set[int] = set()  # gained partitions not yet read up to the log end

    def assign(self, assignment: Iterable[tuple[str, int]]) -> tuple[dict[tuple[str, int], int], set[str]]:
        """A new assignment: where to start each assigned (topic, partition), and the member ids of the
        partitions lost (to forget). Gained partitions start at 0 (rebuilt); kept ones where they were."""
        assignment = set(assignment)
        partitions = {partition for _, partition in assignment}
        lost = self.owned - partitions
        for key in [key for key in self.positions if key[1] in lost]:
            del self.positions[key]
        members: set[str] = set()
        for partition in lost:
            members |= self.members_of.pop(partition, set())
        self.rebuilding = (self.rebuilding & partitions) | (partitions - self.owned)
        self.owned = partitions
        return {key: self.positions.get(key, 0) for key in assignment}, members

    def restore(self, positions: Mapping[tuple[str, int], int], members: Iterable[str]) -> None:
        """A state restored from a snapshot (docs/scale.md, "Snapshots and restarts"): it holds the
        partitions of `positions` up to those offsets, and `members` (their partition by Kafka's
        default partitioner: the snapshot does not say where each member was read). On the first
        assignment, the partitions it covers count as kept, the others as gained or lost."""
        self.positions = dict(positions)
        self.owned = {partition for _, partition in positions}
        self.rebuilding = set(self.owned)
        for member_id in members:
            self.members_of[default_partition(member_id)].add(member_id)

    def caught_up(self, partition: int, topics: Iterable[str], log_end: Mapping[tuple[str, int], int]) -> bool:
        """Is `partition` rebuilt? True once its `topics` were read up to `log_end` (then for good)."""
        if partition in self.rebuilding:
            ends = [log_end.get((topic, partition)) for topic in topics]
            if any(end is None or self.positions.get((topic, partition), 0) < end for topic, end in zip(topics, ends)):
                return False
            self.rebuilding.discard(partition)
        return partition in self.owned

    def partition_of(self, member_id: str) -> int | None:
        return next((p for p, members in self.members_of.items() if member_id in members), None)

    def admit(self, topic: str, partition: int, offset: int) -> bool:
        """True when the record is the next one to apply: its partition is owned and it was not applied yet."""
        if partition not in self.owned:
            return False
        key = (topic, partition)
        if offset < self.positions.get(key, 0):
            return False
        self.positions[key] = offset + 1
        return True

    def member_read(self, partition: int, member_id: str) -> None:
        self.members_of[partition].add(member_id)
