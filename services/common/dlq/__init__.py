"""The dead-letter tool: `python -m services.common.dlq list|show|replay` over the `*.dlq` topics.

* `letters.py` — pure: what an operator may see of a dead letter (pseudonymous id, reason, attempts;
  never the message text or the event payload) and which letters a replay would send;
* `log.py` — reading a topic to its end and writing the replays (Kafka);
* `cli.py` — the typer commands. docs/operations.md explains the workflow.
"""
