"""The service catalogue: every CareCircle service's name, HTTP port and entry module, in one place.

Not a service itself (services never import each other; nothing here is imported by one). The
Procfile, docker-compose.yml, the Kubernetes manifests, each service's settings default and the
README's folder table are checked against it by tests/architecture/test_service_catalogue.py, so a
service added or moved is added here first. Layout of a service: docs/services/README.md.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Service:
    name: str       # package services/<name>/, process name, compose service, k8s Deployment
    port: int       # HTTP: API, /healthz, /readyz, /metrics (<NAME>_PORT overrides it)
    summary: str

    @property
    def module(self) -> str:
        """What `python -m` runs."""
        return f"services.{self.name}"

    @property
    def port_variable(self) -> str:
        return f"{self.name.upper()}_PORT"


SERVICES: tuple[Service, ...] = (
    Service("ingest", 8001, "client events, enrolment and cohort-settings admin API"),
    Service("metrics", 8002, "member-day state, the ClickHouse sink, published numbers, QoL analysis, dashboard"),
    Service("notifier", 8003, "inactivity alerts, call queue and nurse console, reminders, delivery"),
    Service("survey", 8004, "questionnaire schedule, member responses, scoring"),
    Service("clock", 8005, "wall mode: one clock.tick per period to every partition of clock.ticks"),
)

BY_NAME: dict[str, Service] = {service.name: service for service in SERVICES}
