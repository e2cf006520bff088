"""One member-day book per owned partition (pure: no I/O).

A metrics stream worker holds the members of the partitions it owns (ownership.py). Keeping one
`MemberDayBook` per partition makes the partition the unit of everything that happens to state:

* a partition gained is restored from its own snapshot (or rebuilt) into a fresh book; a partition
  lost is dropped whole (docs/scale.md, "The metrics stream");
* each partition's snapshot is its book and the offsets of its partitions of the input topics;
* each book's clocks are that partition's: its dedup windows end at the newest event read on it, and
  it retires members only at a tick read when it is at its log end, so a partition replayed behind
  the others is never judged by the others' progress.

Shared by the books of one process: the cohorts' settings (folded from every partition of `members`,
stream.py), the erased ids' pseudonyms (in memory only, docs/erasure.md) and the waiting rooms'
total bound (services.common.waiting.RoomBudget).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from contracts.daily import EngagementDay
from contracts.members import CohortConfigured
from contracts.timeline import SettingsHistory

from .state import MemberDayBook


class PartitionBooks:
    def __init__(self, new_book: Callable[..., MemberDayBook] = MemberDayBook) -> None:
        self._new_book = new_book  # called with the shared cohorts and erased maps
        self.books: dict[int, MemberDayBook] = {}
        self.cohorts: dict[str, SettingsHistory] = {}
        self.erased: dict[str, str] = {}

    def book(self, partition: int) -> MemberDayBook:
        """The partition's book (an empty one the first time)."""
        book = self.books.get(partition)
        if book is None:
            book = self.books[partition] = self._new_book(cohorts=self.cohorts, erased=self.erased)
        return book

    def drop(self, partition: int) -> None:
        """The partition moved to another worker (or is about to be restored): forget its members.
        Erased ids keep their pseudonyms, so a partition that comes back re-keys them the same way."""
        book = self.books.pop(partition, None)
        if book is not None:
            book.pending.clear()

    def restore(self, partition: int, snapshot: dict) -> None:
        """Replace the partition's book by the one a snapshot holds."""
        self.drop(partition)
        self.book(partition).restore(snapshot)

    def set_cohort(self, configured: CohortConfigured) -> None:
        self.cohorts[configured.cohort] = (self.cohorts.get(configured.cohort) or SettingsHistory()).apply(configured)

    def cohort_days(self, cohort: str) -> list[EngagementDay]:
        """Every known day of the cohort's members held here, as the cohort's settings judge it now."""
        return [day for book in self for day in book.cohort_days(cohort)]

    def book_of(self, member_id: str) -> MemberDayBook | None:
        """The book holding anything about the member (a test and debugging aid)."""
        return next((book for book in self.books.values()
                     if member_id in book.members or member_id in book.days_of or member_id in book.pending
                     or member_id in book.retired), None)

    def day(self, member_id: str, day) -> EngagementDay:
        book = self.book_of(member_id)
        if book is None:
            raise KeyError(member_id)
        return book.day(member_id, day)

    def __iter__(self) -> Iterator[MemberDayBook]:
        return iter(list(self.books.values()))

    @property
    def conflicts(self) -> int:
        return sum(book.conflicts for book in self)
