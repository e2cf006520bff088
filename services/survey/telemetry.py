"""Prometheus series of the survey service."""

from prometheus_client import Counter, Gauge

STEPS = Counter("survey_steps_total", "Schedule steps published, by step and instrument", ["step", "instrument"])
INVITATIONS = Counter("survey_invitations_sent_total", "Invitations sent", ["instrument"])
REMINDERS = Counter("survey_reminders_sent_total", "Reminders sent", ["instrument"])
EXPIRIES = Counter("survey_expiries_total", "Invitations expired unanswered", ["instrument"])
RESPONSES = Counter("survey_responses_total", "Responses accepted", ["instrument"])
REFUSED = Counter("survey_responses_refused_total", "Responses refused, by HTTP status", ["status"])
OPEN = Gauge("survey_open_invitations", "Invitations scheduled or sent and not yet closed")
REPLAYED = Counter("survey_log_records_total", "Records folded from the surveys topic", ["result"])

for _instrument in ("qlq_c30", "experience"):  # export zeros from the start, not only after the first event
    for _series in (INVITATIONS, REMINDERS, EXPIRIES, RESPONSES):
        _series.labels(_instrument)
