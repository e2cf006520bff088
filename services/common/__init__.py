"""Plumbing every CareCircle service shares: settings, JSON logs, auth, Kafka, health and metrics."""
