"""Notifier: nurse call alerts, the call queue, member reminders and notification delivery."""
