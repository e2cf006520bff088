"""The rows of a research export, read from ClickHouse by the same code as the published numbers
(`queries.cohort_calendar`, `queries.engagement`, `days.member_days`, `days.weekly`), so a file can only
disagree with the API if the API disagrees with itself. Member and alert ids go through `Ids`: a keyed
hash per export (docs/export.md, "Pseudonyms")."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterator
from datetime import date, datetime, timezone
from typing import Any

from contracts.engagement import stage, study_week
from contracts.surveys import SCALES

from .. import days, queries
from ..clickhouse import ClickHouse
from . import dictionary


class Ids:
    """Member and alert ids as the export shows them: HMAC-SHA256 with a key made here and never stored
    or returned (two exports never share a pseudonym), or the ids themselves in an identified export.
    Alert ids are pseudonymised too: they are uuid5 of the member id, so they could be recomputed."""

    def __init__(self, identified: bool) -> None:
        self.identified = identified
        self._key = None if identified else secrets.token_bytes(32)
        self._known: dict[str, str] = {}  # one HMAC per id, not per row (bounded by the cohort's size)

    def _hash(self, kind: str, value: str) -> str:
        key = kind + value
        if key not in self._known:
            self._known[key] = kind + hmac.new(self._key, key.encode(), hashlib.sha256).hexdigest()[:24]
        return self._known[key]

    def member(self, member_id: str) -> str:
        return member_id if self.identified else self._hash("p-", member_id)

    def alert(self, alert_id: str) -> str:
        return alert_id if self.identified else self._hash("a-", alert_id)


def _cell(value: Any) -> Any:
    """CSV text of a value: '' for none, 0/1 for flags, ISO 8601 for dates and UTC timestamps."""
    kind = type(value)
    if kind is str or kind is int or kind is float:  # most cells: as they are (a bool is not an int here)
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (list, tuple, frozenset, set)):
        return ";".join(sorted(value))
    return value


def _row(values: dict[str, Any], file: tuple) -> list[Any]:
    return [_cell(values[c.name]) for c in file[2]]


class CohortExport:
    """One cohort's export, read at construction (the member-days, as every published number needs them)."""

    def __init__(self, ch: ClickHouse, cohort: str, identified: bool) -> None:
        self.ch, self.cohort, self.ids = ch, cohort, Ids(identified)
        self.calendar = queries.cohort_calendar(ch, cohort)
        self.now = queries.latest_tick(ch)
        self.engagement = queries.engagement(ch, self.calendar, cohort)
        self.member_days = days.member_days(self.calendar, self.now, self.engagement)
        self.settings = self.calendar.settings.latest
        self.members = len(self.calendar.timelines)  # the audit record's `returned`

    def files(self) -> Iterator[tuple[str, list[str], Iterator[list[Any]]]]:
        """(file name, header, rows) of every CSV, in the order of `dictionary.FILES`."""
        makers = {"cohort.csv": self._cohort, "members.csv": self._members, "member_days.csv": self._member_days,
                  "weekly.csv": self._weekly, "qlq_c30.csv": self._qlq, "alerts.csv": self._alerts,
                  "calls.csv": self._calls}
        for file in dictionary.FILES:
            yield file[0], [c.name for c in file[2]], (_row(values, file) for values in makers[file[0]]())
        yield "data_dictionary.csv", list(dictionary.DICTIONARY_COLUMNS), iter(dictionary.dictionary_rows())

    def _cohort(self):
        yield {"cohort": self.cohort, "exported_at": datetime.now(timezone.utc), "latest_tick": self.now,
               "intervention_weeks": self.settings.intervention_weeks,
               "active_login_threshold": self.settings.active_login_threshold, "ends_on": self.settings.ends_on,
               "identified": self.ids.identified}

    # Rows are ordered by pseudonym, not by member id: the order of the ids would say something about them.
    def _members(self):
        for member_id in sorted(self.calendar.timelines, key=self.ids.member):
            follow_up = self.calendar.timelines[member_id].follow_up
            yield {"member": self.ids.member(member_id), "timezone": self.calendar.timelines[member_id].zones.current,
                   "enrolled_on": follow_up.first_enrolled_on,
                   "withdrawn_on": follow_up.withdrawn_on if follow_up.is_withdrawn else None,
                   "follow_up_last_day": follow_up.last_day(self.settings.ends_on)}

    def _member_days(self):
        weeks = self.settings.intervention_weeks
        scheduled: dict[date, str] = {}  # day → tasks in force (a cohort's calendar has few distinct days)
        for d in sorted(self.member_days, key=lambda d: (self.ids.member(d.member_id), d.day)):
            done = self.engagement.get((d.member_id, d.day), (frozenset(), 0))[0] if d.in_follow_up else ()
            week = study_week(d.day_number)
            yield {"member": self.ids.member(d.member_id), "day": d.day, "day_number": d.day_number, "week": week,
                   "stage": stage(week, weeks), "day_type": "working" if d.working else "non-working",
                   "complete": d.complete, "in_followup": d.in_follow_up, "in_enrolled": True,
                   "logged_in": d.logged_in, "participated": d.participated, "completed": d.completed,
                   "actions": d.actions, "tasks_scheduled": scheduled.get(d.day) or scheduled.setdefault(
                       d.day, ";".join(sorted(self.calendar.settings.settings_on(d.day).tasks))),
                   "tasks_done": done}

    def _weekly(self):
        for denominator in ("followup", "enrolled"):
            yield from days.weekly(self.member_days, denominator, self.settings.intervention_weeks)

    def _qlq(self):
        # the first complete response of each member and timepoint, taken as one tuple (a missing scale
        # stays missing); the client returns a tuple as a mapping, so its elements are named here
        names = [*SCALES, "summary", "occurred_at", "items_answered"]
        elements = ", ".join(f"tupleElement(first, {i + 1}) AS {name}" for i, name in enumerate(names))
        rows = self.ch.query(
            f"SELECT member_id, timepoint, {elements} FROM (SELECT member_id, timepoint, "
            f"argMin(tuple({', '.join(names)}), kafka_offset) AS first FROM survey_scores FINAL "
            "WHERE cohort = {cohort:String} AND instrument = 'qlq_c30' GROUP BY member_id, timepoint) "
            "ORDER BY member_id, timepoint", {"cohort": self.cohort})
        for r in sorted(rows, key=lambda r: (self.ids.member(r["member_id"]), r["timepoint"])):
            yield {**r, "member": self.ids.member(r["member_id"]), "responded_at": r["occurred_at"]}

    def _alerts(self):
        rows = self.ch.query("SELECT * FROM alerts WHERE cohort = {cohort:String} ORDER BY raised_at, alert_id",
                             {"cohort": self.cohort})
        for r in rows:
            yield {**r, "alert": self.ids.alert(r["alert_id"]), "member": self.ids.member(r["member_id"])}

    def _calls(self):
        rows = self.ch.query(
            "SELECT alert_id, member_id, argMin(occurred_at, kafka_offset) AS called_at, "
            "argMin(outcome, kafka_offset) AS outcome FROM alert_events "
            "WHERE cohort = {cohort:String} AND type = 'call.logged' "
            "GROUP BY alert_id, member_id, event_id ORDER BY called_at, alert_id", {"cohort": self.cohort})
        for r in rows:
            yield {**r, "alert": self.ids.alert(r["alert_id"]), "member": self.ids.member(r["member_id"])}
