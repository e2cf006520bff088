"""What a research export holds: every file, every column (meaning, type, unit, allowed values) and the
metric definitions. The one source of the ZIP's `data_dictionary.csv` and `README.md` and of the tables
in docs/export.md (`python -m services.metrics.export.dictionary` prints them), so none of them is a
second hand-written copy. The definitions follow docs/metrics.md; the rate texts are the API's own
field descriptions (`contracts.metrics_api`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import get_args

from contracts.alerts import AlertKind, AlertRule, CallOutcome, ResolveReason
from contracts.members import CohortSettings
from contracts.metrics_api import Rates
from contracts.surveys import SCALES

DEFAULT_TASKS = CohortSettings.model_fields["tasks"].default


@dataclass(frozen=True)
class Column:
    name: str
    meaning: str
    type: str  # string | integer | decimal | date | timestamp | 0/1
    unit: str = ""
    allowed: str = ""


def _codes(literal) -> str:
    return " | ".join(get_args(literal))


MEMBER = Column("member", "Member: a pseudonym of this export (HMAC-SHA256 of the member id with a random key "
                "made for this export and then discarded), or the member id in an identified export", "string")
ALERT = Column("alert", "Alert: a pseudonym of this export (like member), or the alert id in an identified export",
               "string")
_DAY = "member's local calendar day (YYYY-MM-DD, in the member's own time zone)"
_FLAG = "0/1"
_TS = "timestamp (ISO 8601, UTC)"

COHORT_FILE = ("cohort.csv", "One row: the cohort, when it was exported, and the settings the figures use.", [
    Column("cohort", "Cohort identifier", "string"),
    Column("exported_at", "Wall time of the export", _TS),
    Column("latest_tick", "The latest clock tick: 'now' for every figure (a day is complete once it is over)", _TS),
    Column("intervention_weeks", "Study weeks 1 … N are the intervention stage, later weeks open-ended", "integer",
           "weeks"),
    Column("active_login_threshold", "A member is active when the login rate over the first 28 follow-up days is "
           "at least this", "decimal", "fraction (0-1)"),
    Column("ends_on", "The cohort's last day (inclusive); empty when open-ended", "date"),
    Column("identified", "1: member and alert ids are the real ids; 0: pseudonyms of this export", _FLAG, "", "0 | 1"),
])

MEMBERS_FILE = ("members.csv", "One row per enrolled member.", [
    MEMBER,
    Column("timezone", "The member's current IANA time zone", "string"),
    Column("enrolled_on", "First enrolment day (follow-up day 1)", "date"),
    Column("withdrawn_on", "First day no longer followed, when the member is withdrawn now; empty otherwise",
           "date"),
    Column("follow_up_last_day", "Last follow-up day (withdrawal or cohort end); empty while follow-up is "
           "open-ended. Decides 'pending' (follow-up goes on) vs 'insufficient' (it ended before day 28)", "date"),
])

MEMBER_DAYS_FILE = ("member_days.csv", "One row per enrolled member-day, from the first enrolment to the earlier "
                    "of the cohort's end and the member's today (the latest tick's local day, included as "
                    "incomplete).", [
    MEMBER,
    Column("day", "The " + _DAY, "date"),
    Column("day_number", "Day of the study counted from the first enrolment (day 1)", "integer", "days"),
    Column("week", "Study week: days 7(w−1)+1 … 7w", "integer", "weeks"),
    Column("stage", "Study stage of the week", "string", "", "intervention | open-ended"),
    Column("day_type", "Working day, or not (Saturday, Sunday and cohort holidays, except make-up working days), "
           "by the calendar in force on the day", "string", "", "working | non-working"),
    Column("complete", "The day is over in the member's zone (only complete days count in a rate)", _FLAG, "",
           "0 | 1"),
    Column("in_followup", "In the 'followup' denominator: a follow-up day (enrolled, not withdrawn, not past the "
           "cohort's end)", _FLAG, "", "0 | 1"),
    Column("in_enrolled", "In the 'enrolled' denominator (intention to treat): every listed day, so always 1; days "
           "outside follow-up count as not logged in", _FLAG, "", "1"),
    Column("logged_in", "At least one event on the day (login, post, check-in, meditation play); 0 outside "
           "follow-up", _FLAG, "", "0 | 1"),
    Column("participated", "At least one scheduled task done on the day; 0 outside follow-up", _FLAG, "", "0 | 1"),
    Column("completed", "Every scheduled task done on the day; 0 outside follow-up", _FLAG, "", "0 | 1"),
    Column("actions", "Check-ins and meditation plays on the day (each event once: its first delivery)",
           "integer", "events"),
    Column("tasks_scheduled", "Tasks scheduled by the cohort settings in force on the day, ';'-separated",
           "string", "", f"task codes (default {';'.join(sorted(DEFAULT_TASKS))})"),
    Column("tasks_done", "Tasks marked on the day (a check-in's task; a completed meditation play marks "
           "meditation), ';'-separated; empty outside follow-up", "string", "", "task codes"),
])

_RATE_FIELDS = Rates.model_fields
WEEKLY_FILE = ("weekly.csv", "Study-week rates as GET /v1/cohorts/{cohort}/weekly answers them, one block per "
               "denominator (recomputable from member_days.csv).", [
    Column("denominator", "Which member-days the rates divide by: followup = rows with in_followup 1; enrolled = "
           "every row", "string", "", "followup | enrolled"),
    Column("week", "Study week", "integer", "weeks"),
    Column("stage", "Study stage of the week", "string", "", "intervention | open-ended"),
    Column("partial", _RATE_FIELDS["partial"].description, _FLAG, "", "0 | 1"),
    Column("member_days", _RATE_FIELDS["member_days"].description, "integer", "member-days"),
    Column("logged_in_days", "Complete counted member-days with logged_in 1", "integer", "member-days"),
    Column("participated_days", "Complete counted member-days with participated 1", "integer", "member-days"),
    Column("completed_days", "Complete counted member-days with completed 1", "integer", "member-days"),
    Column("login_rate", _RATE_FIELDS["login_rate"].description, "decimal", "percent (0-100), unrounded"),
    Column("participation_rate", "100 × participated_days / member_days (0 when member_days is 0)", "decimal",
           "percent (0-100), unrounded"),
    Column("completion_rate", "100 × completed_days / member_days (0 when member_days is 0)", "decimal",
           "percent (0-100), unrounded"),
])

QLQ_FILE = ("qlq_c30.csv", "EORTC QLQ-C30 scale scores: one row per member and timepoint, the first complete "
            "response in log order.", [
    MEMBER,
    Column("timepoint", "Questionnaire timepoint: T0 enrolment, T1 day 14, T2 day 28", "string", "",
           "T0 | T1 | T2"),
    Column("responded_at", "When the response was scored", _TS),
    Column("items_answered", "Items answered (QLQ-C30 scoring allows skipped items)", "integer", "items", "0-30"),
    *[Column(scale, f"QLQ-C30 scale {scale} (EORTC scoring manual); empty when too few items were answered",
             "decimal", "points", "0-100") for scale in SCALES],
    Column("summary", "QLQ-C30 summary score (Giesinger 2016); empty when a scale is missing", "decimal", "points",
           "0-100"),
])

ALERTS_FILE = ("alerts.csv", "One row per nurse alert: its lifecycle, without staff ids or any free text.", [
    ALERT, MEMBER,
    Column("kind", "Alert kind", "string", "", _codes(AlertKind)),
    Column("rule", "The rule that raised it", "string", "", _codes(AlertRule)),
    Column("raised_at", "When raised (simulated time of the latest tick)", _TS),
    Column("since", "First " + _DAY + " of the episode", "date"),
    Column("through", "Last complete day judged when raised", "date"),
    Column("missed_days", "Follow-up days without a login in the judged window (symptom: 0)", "integer", "days"),
    Column("timepoint", "Symptom: the judged QLQ-C30 timepoint", "string", "", "T0 | T1 | T2 | empty"),
    Column("scales", "Symptom: QLQ-C30 scales past a threshold or worsened, ';'-separated", "string", "",
           "scale codes"),
    Column("escalated", "Escalated to the cohort's lead nurse", _FLAG, "", "0 | 1"),
    Column("escalated_at", "When escalated; empty if never", _TS),
    Column("acknowledged_at", "When a nurse acknowledged it; empty if never", _TS),
    Column("calls", "Calls logged on the alert (calls.csv)", "integer", "calls"),
    Column("resolved_at", "When resolved; empty while open", _TS),
    Column("resolve_reason", "Why resolved; empty while open", "string", "", _codes(ResolveReason)),
])

CALLS_FILE = ("calls.csv", "One row per call logged on an alert: the outcome code only (never the nurse's note).", [
    ALERT, MEMBER,
    Column("called_at", "When the call was logged", _TS),
    Column("outcome", "Call outcome", "string", "", _codes(CallOutcome)),
])

FILES = [COHORT_FILE, MEMBERS_FILE, MEMBER_DAYS_FILE, WEEKLY_FILE, QLQ_FILE, ALERTS_FILE, CALLS_FILE]
DICTIONARY_COLUMNS = ("file", "column", "meaning", "type", "unit", "allowed_values")

DEFINITIONS = [
    ("Member-day", "One member's local calendar day in the member's own time zone; an event counts on the day it "
     "occurred, however late it arrived. A repeated delivery of an event (same member and event id) is ignored: "
     "the first delivery in log order is the event."),
    ("Logged in / participated / completed", "At least one event / at least one scheduled task / every scheduled "
     "task on the day (member_days.csv)."),
    ("Follow-up days", "From the enrolment day (day 1) to the day before the withdrawal or the cohort's last day, "
     "never past today. A re-enrolment continues the day numbers; the days between are outside follow-up."),
    ("Complete days only", "A day counts in a rate once it is over in the member's zone; a row with an incomplete "
     "day is partial and the incomplete day is not counted."),
    ("Rates, two denominators", "100 × counted member-days with the property ÷ counted member-days. followup (per "
     "protocol): the follow-up days. enrolled (intention to treat): every enrolled member's days from the first "
     "enrolment to the cohort's end, days outside follow-up counting as not logged in. Rates are unrounded."),
    ("Study week and stage", "Week w is a member's days 7(w−1)+1 … 7w; weeks 1 … intervention_weeks are the "
     "intervention, later weeks open-ended."),
    ("Active member", "Login rate over the first 28 complete follow-up days (gaps skipped) ≥ "
     "active_login_threshold; pending while fewer than 28 exist and follow-up goes on; insufficient when it "
     "ended before."),
    ("Working days", "Monday to Friday except cohort holidays, plus the calendar's make-up working days."),
    ("QLQ-C30 score of a timepoint", "The first complete response in log order; the quality-of-life comparison "
     "uses T0 and T2 of members whose activity is active or inactive."),
    ("Pseudonyms", "Unless identified is 1, member and alert ids are replaced by HMAC-SHA256 with a random key "
     "made for this export and discarded: rows of one member link within the export, never across exports."),
]


def dictionary_rows() -> list[tuple[str, ...]]:
    return [(name, c.name, c.meaning, c.type, c.unit, c.allowed) for name, _, columns in FILES for c in columns]


def readme(cohort: str, identified: bool) -> str:
    lines = [f"# Research export of cohort {cohort}", "",
             "CSV files (UTF-8, comma-separated, header row, empty cell = no value). Every column is described "
             "in data_dictionary.csv.", "", "## Files", ""]
    lines += [f"* `{name}`: {about}" for name, about, _ in FILES]
    lines += ["* `data_dictionary.csv`: every column of every file: meaning, type, unit, allowed values.", "",
              "## Metric definitions", ""]
    lines += [f"* **{term}.** {text}" for term, text in DEFINITIONS]
    lines += ["", "## Member ids", "",
              "Member and alert ids are the real ids (identified export)." if identified else
              "Member and alert ids are pseudonyms of this export only; the key was never stored.", ""]
    return "\n".join(lines)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def markdown() -> str:
    """The dictionary as Markdown tables (docs/export.md embeds this output)."""
    out = []
    for name, about, columns in FILES:
        out += [f"### {name}", "", about, "", "| column | meaning | type | unit | allowed values |",
                "|---|---|---|---|---|"]
        out += ["| " + " | ".join([f"`{c.name}`", *(_cell(v) for v in (c.meaning, c.type, c.unit, c.allowed))]) + " |"
                for c in columns]
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    print(markdown())
