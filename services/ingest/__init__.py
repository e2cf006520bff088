"""Ingest API: authenticates app clients, validates events against `contracts/`, produces to Kafka."""
