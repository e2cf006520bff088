"""Which member partitions one metrics stream worker owns, and how far it has applied each (pure).

The metrics stream runs as N workers in ONE stable consumer group (`METRICS_GROUP_ID`): the group
splits the member-keyed topics by partition, and faust assigns a partition number's records of every
topic (events, members, erasures, ticks: co-partitioned, same count, same key) to the same worker.
A worker keeps one member-day book per partition it owns (`books.py`; docs/scale.md, "The metrics
stream"):

* a partition this worker gains starts from that partition's newest snapshot (`resume`) or, without
  one, from offset 0: never from the group's committed offset, never from another worker's memory;
* a partition it keeps is read on from the offset it has applied (its own position, exact);
* a partition it loses is forgotten (its book is dropped), so the worker never publishes a stale day
  of a member that another worker now owns;
* a record below the applied position (faust is at-least-once) is a re-delivery and is skipped;
* while a gained partition is being rebuilt, its events may be read before their members' enrolments
  (the topics are read side by side), so its waiting events are not dead-lettered until its member
  and event topics have reached the log end once (`caught_up`); members are retired only at a tick
  when those topics are at their log end (`at_log_end`), so nothing accepted earlier is still unread.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping


class Ownership:
    def __init__(self) -> None:
        self.owned: set[int] = set()
        self.positions: dict[tuple[str, int], int] = {}  # (topic, partition) → next offset to apply
        self.rebuilding: set[int] = set()  # gained partitions not yet read up to the log end

    def assign(self, assignment: Iterable[tuple[str, int]]) -> tuple[set[int], set[int]]:
        """A new assignment: the partitions gained (to restore or rebuild) and lost (to forget)."""
        partitions = {partition for _, partition in assignment}
        gained, lost = partitions - self.owned, self.owned - partitions
        for key in [key for key in self.positions if key[1] in lost | gained]:
            del self.positions[key]
        self.rebuilding = (self.rebuilding & partitions) | gained
        self.owned = partitions
        return gained, lost

    def resume(self, positions: Mapping[tuple[str, int], int]) -> None:
        """A gained partition restored from a snapshot holds every record before these offsets."""
        self.positions.update((key, offset) for key, offset in positions.items() if key[1] in self.owned)

    def starts(self, assignment: Iterable[tuple[str, int]]) -> dict[tuple[str, int], int]:
        """Where each assigned (topic, partition) is read from: the applied (or restored) position, else 0."""
        return {key: self.positions.get(key, 0) for key in assignment}

    def caught_up(self, partition: int, topics: Iterable[str], log_end: Mapping[tuple[str, int], int]) -> bool:
        """Is `partition` rebuilt? True once it was at its log end for `topics` (then for good)."""
        if partition in self.rebuilding:
            if not self.at_log_end(partition, topics, log_end):
                return False
            self.rebuilding.discard(partition)
        return partition in self.owned

    def at_log_end(self, partition: int, topics: Iterable[str], log_end: Mapping[tuple[str, int], int]) -> bool:
        """Has `partition` applied every record of `topics` up to `log_end` (the last fetch's)? Then
        nothing written before that fetch is still unread (the rule for retiring members)."""
        return partition in self.owned and all(
            (topic, partition) in log_end and self.positions.get((topic, partition), 0) >= log_end[(topic, partition)]
            for topic in topics)

    def admit(self, topic: str, partition: int, offset: int) -> bool:
        """True when the record is the next one to apply: its partition is owned and it was not applied yet."""
        if partition not in self.owned:
            return False
        key = (topic, partition)
        if offset < self.positions.get(key, 0):
            return False
        self.positions[key] = offset + 1
        return True
