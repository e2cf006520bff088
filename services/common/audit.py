"""The audit trail of staff reads (docs/security.md, "Audit trail"): a route that answers member-level
data to staff calls `record_access` before answering; the record goes to the `audit` topic with
acks=all. Fail closed: when the record cannot be written the read gets 503 and no data."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from uuid import uuid4

from fastapi import HTTPException, Request, status

from contracts.audit import AuditedResource, StaffAccess
from contracts.topics import AUDIT

from .auth import Principal
from .kafka import BrokerUnavailable, Publisher, Record, broker_reachable
from .logging import log


class AuditTrail:
    """One producer per service process, opened on the first audited read."""

    def __init__(self, bootstrap: str, service: str) -> None:
        self.bootstrap, self.service = bootstrap, service
        self._publisher: Publisher | None = None
        self._opening = asyncio.Lock()

    async def _publisher_ready(self) -> Publisher:
        async with self._opening:
            if self._publisher is None:
                if not await broker_reachable(self.bootstrap):  # refused at once: no 5 s wait for the 503
                    raise BrokerUnavailable("no broker accepts connections")
                # A staff read waits for its record: the producer must find the broker within the
                # delivery timeout too, not kafka-python's 30 s bootstrap default (then 503, fail closed).
                self._publisher = await asyncio.to_thread(Publisher, self.bootstrap, 5_000, f"{self.service}-audit",
                                                          bootstrap_timeout_ms=5_000)
            return self._publisher

    async def record(self, principal: Principal, resource: AuditedResource, cohort: str | None = None,
                     target: str | None = None, returned: int = 0) -> StaffAccess:
        access = StaffAccess(event_id=uuid4(), occurred_at=datetime.now(timezone.utc), actor=principal.subject,
                             role=principal.role, service=self.service, resource=resource,
                             cohort=cohort or None, target=target or None, returned=returned)  # "" = not named
        try:
            publisher = await self._publisher_ready()
            await publisher.publish([Record(AUDIT.name, principal.subject.encode(), access.model_dump_json().encode())])
        except Exception as exc:  # BrokerUnavailable, a producer that cannot start, ...: no record, no data
            log.warning("audit_record_failed", resource=resource, error=type(exc).__name__)
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail="audit trail unavailable; retry later",
                                headers={"Retry-After": "5"}) from None
        return access

    @property
    def open(self) -> bool:
        return self._publisher is not None

    async def close(self) -> None:
        async with self._opening:
            if self._publisher is not None:
                publisher, self._publisher = self._publisher, None
                await asyncio.to_thread(publisher.close)


def audit_trail(request: Request) -> AuditTrail:
    """The app's trail (created on first use from its settings and service name)."""
    state = request.app.state
    trail = getattr(state, "audit_trail", None)
    if trail is None:
        trail = state.audit_trail = AuditTrail(state.settings.kafka_bootstrap, state.service_name)
    return trail


async def record_access(request: Request, principal: Principal, resource: AuditedResource,
                        cohort: str | None = None, target: str | None = None, returned: int = 0) -> None:
    await audit_trail(request).record(principal, resource, cohort, target, returned)
