"""Member time as every service must read it: zone history, follow-up periods, settings versions.

Pure (no I/O, no clock reads). The rules, with examples, are in docs/timeline.md:

* **Zones** (`ZoneHistory`): a zone change applies to instants from 00:00 of its `effective_on` in
  the new zone; earlier instants keep the old zone's date, at most `effective_on` - 1. So a day is
  never lived twice and a past day never moves.
* **Follow-up** (`FollowUp`): the first enrolment is day 1; a withdrawal ends follow-up from its
  `withdrawn_on` (which may lie in the future: it takes effect on that date, not at once); a
  re-enrolment in the same cohort continues the day numbers; the days between are outside follow-up.
* **Settings** (`SettingsHistory`): each day is judged by the configuration whose `effective_on` is
  the latest on or before it (days before the first use the first); only the date-effective settings
  (`contracts.members.DATE_EFFECTIVE_SETTINGS`) vary by day, every other setting uses the latest value.

Versions with the same `effective_on` (zone changes or configurations): the later record wins.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from .members import (
    DATE_EFFECTIVE_SETTINGS, CohortConfigured, CohortSettings, MemberEnrolled, MemberTimezoneChanged, MemberWithdrawn,
)

ONE_DAY = timedelta(days=1)


@lru_cache(maxsize=1024)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _midnight(day: date, zone_name: str) -> datetime:
    """The first instant of `day` on the wall clock of `zone_name` (a midnight skipped by DST maps to
    the first instant after the gap, as zoneinfo's fold=0 does)."""
    return datetime.combine(day, time(0), tzinfo=zone(zone_name))


# --- zones -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ZoneHistory:
    """The zones a member lived in: `first` until the first change, then each change from its date.

    `changes` is sorted by `effective_on`, one entry per date (the later record replaced an earlier
    one of the same date)."""

    first: str
    changes: tuple[tuple[date, str], ...] = ()

    def changed(self, timezone: str, effective_on: date) -> ZoneHistory:
        """The history after a `member.timezone_changed` record."""
        kept = [c for c in self.changes if c[0] != effective_on]
        return replace(self, changes=tuple(sorted([*kept, (effective_on, timezone)])))

    @property
    def current(self) -> str:
        """The zone of the latest change (what the member lives in from its date on)."""
        return self.changes[-1][1] if self.changes else self.first

    def zone_on(self, day: date) -> str:
        """The zone whose wall clock day `day` is lived on."""
        i = bisect_right(self.changes, (day, "\uffff")) - 1
        return self.changes[i][1] if i >= 0 else self.first

    def _segment(self, instant: datetime) -> int:
        """Index of the zone in force at `instant` (-1 = first zone): the last change whose new-zone
        midnight has passed. A later change's midnight may come before an earlier one's (zones far
        apart): the later change wins, which keeps local days in order."""
        for i in range(len(self.changes) - 1, -1, -1):
            effective_on, name = self.changes[i]
            if instant >= _midnight(effective_on, name):
                return i
        return -1

    def local_day(self, instant: datetime) -> date:
        """The member's local calendar day on which `instant` happened."""
        if not self.changes:
            return instant.astimezone(zone(self.first)).date()
        i = self._segment(instant)
        name = self.changes[i][1] if i >= 0 else self.first
        day = instant.astimezone(zone(name)).date()
        if i + 1 < len(self.changes):
            day = min(day, self.changes[i + 1][0] - ONE_DAY)
        return day

    def day_start(self, day: date) -> datetime:
        """The first instant whose local day is `day` or later."""
        if not self.changes:
            return _midnight(day, self.first)
        # Segments in instant order: (zone, start or None, cap date or None).
        starts = [None, *(_midnight(d, z) for d, z in self.changes)]
        names = [self.first, *(z for _, z in self.changes)]
        caps = [*(d - ONE_DAY for d, _ in self.changes), None]
        for i in range(len(names)):
            end = min((s for s in starts[i + 1:]), default=None)
            if caps[i] is not None and caps[i] < day:
                continue  # every day of this segment is earlier than `day`
            candidate = _midnight(day, names[i])
            if starts[i] is not None:
                candidate = max(candidate, starts[i])
            if end is None or candidate < end:
                return candidate
        raise AssertionError("the last segment is unbounded")  # pragma: no cover

    def day_end(self, day: date) -> datetime:
        """The first instant after `day` (a day is complete once the clock reaches it)."""
        return self.day_start(day + ONE_DAY)

    def at(self, day: date, wall_time: time) -> datetime:
        """The instant of `wall_time` on `day`, on the wall clock of the zone `day` is lived in."""
        return datetime.combine(day, wall_time, tzinfo=zone(self.zone_on(day)))


# --- follow-up -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class FollowUp:
    """Follow-up periods [start, end) in local days; `end` None = open. Day 1 = the first start."""

    periods: tuple[tuple[date, date | None], ...]

    @classmethod
    def enrolled(cls, enrolled_on: date) -> FollowUp:
        return cls(((enrolled_on, None),))

    @property
    def first_enrolled_on(self) -> date:
        return self.periods[0][0]

    @property
    def withdrawn_on(self) -> date | None:
        """The date of the withdrawal that closed the latest period (None while enrolled)."""
        return self.periods[-1][1]

    @property
    def is_withdrawn(self) -> bool:
        """A withdrawal is recorded and no re-enrolment followed (it may take effect later)."""
        return self.periods[-1][1] is not None

    def withdraw(self, withdrawn_on: date) -> FollowUp:
        """Close the latest period; a second withdrawal without re-enrolment corrects the date."""
        start, _ = self.periods[-1]
        return FollowUp((*self.periods[:-1], (start, withdrawn_on)))

    def re_enrol(self, enrolled_on: date) -> FollowUp:
        """Open a new period (only after a withdrawal; an enrolment while enrolled changes nothing)."""
        if not self.is_withdrawn:
            return self
        return FollowUp((*self.periods, (max(enrolled_on, self.first_enrolled_on), None)))

    def day_number(self, day: date) -> int:
        """1-based day number counted from the first enrolment (gaps keep counting)."""
        return (day - self.first_enrolled_on).days + 1

    def in_follow_up(self, day: date, ends_on: date | None = None) -> bool:
        """Is `day` a follow-up day (in a period, not after the cohort's last day `ends_on`)?"""
        if ends_on is not None and day > ends_on:
            return False
        return any(start <= day and (end is None or day < end) for start, end in self.periods)

    def withdrawn_on_day(self, day: date) -> bool:
        """Is the member withdrawn on `day` (after the first enrolment, outside every period)?"""
        return day >= self.first_enrolled_on and not self.in_follow_up(day)

    def days(self, through: date, ends_on: date | None = None) -> Iterator[date]:
        """Follow-up days in order, up to and including `through` (and `ends_on`)."""
        last = through if ends_on is None else min(through, ends_on)
        day = self.first_enrolled_on
        while day <= last:
            if self.in_follow_up(day):
                yield day
            day += ONE_DAY

    def last_day(self, ends_on: date | None = None) -> date | None:
        """The last follow-up day, or None while follow-up is open-ended."""
        end = self.periods[-1][1]
        if end is None:
            return ends_on
        last = max((e for _, e in self.periods if e is not None)) - ONE_DAY
        return last if ends_on is None else min(last, ends_on)


# --- one member ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class MemberTimeline:
    """Everything about a member's time that the `members` topic says, folded in log order."""

    member_id: str
    cohort: str
    zones: ZoneHistory
    follow_up: FollowUp
    enrolment: MemberEnrolled = field(compare=False)  # the record that opened the latest period
    first_enrolment: MemberEnrolled = field(compare=False)  # day 1 and the survey schedule count from it
    applied: frozenset = field(default=frozenset(), compare=False, repr=False)  # event ids folded in

    def local_day(self, instant: datetime) -> date:
        return self.zones.local_day(instant)

    def in_follow_up(self, day: date, ends_on: date | None = None) -> bool:
        return self.follow_up.in_follow_up(day, ends_on)

    def day_number(self, day: date) -> int:
        return self.follow_up.day_number(day)


def apply_member_record(
    timeline: MemberTimeline | None, record: MemberEnrolled | MemberWithdrawn | MemberTimezoneChanged
) -> MemberTimeline | None:
    """Fold one member record (log order). Idempotent: a record folded again (same event_id: the log
    tail and a stream agent may both deliver it, in either order) changes nothing. Records that cannot
    apply (a withdrawal or zone change of an unknown member, anything naming another cohort) change
    nothing: ingest refuses them, and a log written before the guards existed must still replay."""
    if timeline is not None and record.event_id in timeline.applied:
        return timeline
    folded = _apply(timeline, record)
    if folded is None or folded is timeline:
        return folded
    return replace(folded, applied=folded.applied | {record.event_id})


def _apply(timeline: MemberTimeline | None,
           record: MemberEnrolled | MemberWithdrawn | MemberTimezoneChanged) -> MemberTimeline | None:
    if isinstance(record, MemberEnrolled):
        if timeline is None:
            return MemberTimeline(record.member_id, record.cohort, ZoneHistory(record.timezone),
                                  FollowUp.enrolled(record.enrolled_on), record, record)
        if record.cohort != timeline.cohort or not timeline.follow_up.is_withdrawn:
            return timeline
        follow_up = timeline.follow_up.re_enrol(record.enrolled_on)
        zones = timeline.zones
        if record.timezone != zones.zone_on(follow_up.periods[-1][0]):
            zones = zones.changed(record.timezone, follow_up.periods[-1][0])
        return replace(timeline, follow_up=follow_up, zones=zones, enrolment=record)
    if timeline is None or record.cohort != timeline.cohort:
        return timeline
    if isinstance(record, MemberWithdrawn):
        return replace(timeline, follow_up=timeline.follow_up.withdraw(record.withdrawn_on))
    return replace(timeline, zones=timeline.zones.changed(record.timezone, record.effective_on))


# --- cohort settings -------------------------------------------------------------------------------

class SettingsHistory:
    """The configurations of one cohort, answering "which settings judge this day?"."""

    __slots__ = ("_versions", "_dates", "_latest", "_cache")

    def __init__(self, versions: tuple[tuple[date, CohortSettings], ...] = (),
                 latest: CohortSettings | None = None) -> None:
        self._versions = versions  # sorted by date, one per date (the later record of a date)
        self._dates = [d for d, _ in versions]
        self._latest = latest or (versions[-1][1] if versions else CohortSettings())
        self._cache: dict[int, CohortSettings] = {}

    def configured(self, settings: CohortSettings, effective_on: date | None) -> SettingsHistory:
        """The history after a `cohort.configured` record; no `effective_on` = from the beginning."""
        when = effective_on or date.min
        kept = [v for v in self._versions if v[0] != when]
        kept.append((when, settings))
        kept.sort(key=lambda v: v[0])
        return SettingsHistory(tuple(kept), settings)

    def apply(self, record: CohortConfigured) -> SettingsHistory:
        return self.configured(record.settings, record.effective_on)

    def __bool__(self) -> bool:
        return bool(self._versions)

    @property
    def latest(self) -> CohortSettings:
        """The latest record's settings (the value of every setting that is not date-effective)."""
        return self._latest

    @property
    def effective_dates(self) -> tuple[date, ...]:
        return tuple(self._dates)

    def settings_on(self, day: date) -> CohortSettings:
        """The settings that judge `day`."""
        if not self._versions:
            return CohortSettings()
        index = max(bisect_right(self._dates, day) - 1, 0)
        cached = self._cache.get(index)
        if cached is None:
            version = self._versions[index][1]
            latest = self.latest
            cached = latest if version is latest else latest.model_copy(
                update={name: getattr(version, name) for name in DATE_EFFECTIVE_SETTINGS})
            self._cache[index] = cached
        return cached
