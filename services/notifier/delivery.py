"""Sending one `notification.requested` over its channel, with retries (exponential backoff with full
jitter, tenacity). Permanent failures (4xx from a webhook, 5xx SMTP reply, channel not configured)
are not retried. The caller records the outcome and dead-letters failures."""

from __future__ import annotations

import hashlib
from email.message import EmailMessage

import aiosmtplib
import httpx
from tenacity import AsyncRetrying, retry_if_not_exception_type, stop_after_attempt, wait_random_exponential

from contracts.notifications import NotificationRequested
from services.common.logging import log

from . import telemetry
from .settings import NotifierSettings


class PermanentFailure(Exception):
    """Retrying cannot help (bad request, refused recipient, channel not configured)."""


class Deliverer:
    def __init__(self, settings: NotifierSettings) -> None:
        self.settings = settings
        self.http = httpx.AsyncClient(timeout=settings.send_timeout_s)

    async def close(self) -> None:
        await self.http.aclose()

    async def deliver(self, note: NotificationRequested) -> tuple[bool, int, str]:
        """(delivered, attempts, reason of the last failure)."""
        attempts = 0
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.settings.retry_attempts),
            wait=wait_random_exponential(multiplier=self.settings.retry_initial_s, max=self.settings.retry_max_s),
            retry=retry_if_not_exception_type(PermanentFailure), reraise=True,
            before_sleep=lambda state: telemetry.DELIVERY_RETRIES.labels(note.channel).inc(),
        )
        try:
            async for attempt in retrying:
                with attempt:
                    attempts = attempt.retry_state.attempt_number
                    await self._send(note)
        except Exception as exc:  # noqa: BLE001 - every failure is reported, never swallowed
            reason = f"{type(exc).__name__}: {exc}"[:480]
            # The dedup key and the recipient name the member, and logs outlive an erasure: the opaque
            # event id finds the record on notifications.outbound instead.
            log.warning("delivery_failed", channel=note.channel, kind=note.kind, notification=str(note.event_id),
                        attempts=attempts, reason=reason)
            return False, max(attempts, 1), reason
        return True, attempts, ""

    async def _send(self, note: NotificationRequested) -> None:
        if note.channel == "push":
            await self._post(self.settings.push_gateway_url, note, self.settings.push_gateway_token)
        elif note.channel == "webhook":
            await self._post(self.settings.nurse_webhook_url, note, None)
        else:
            await self._email(note)

    async def _post(self, url: str | None, note: NotificationRequested, token) -> None:
        if not url:
            raise PermanentFailure(f"{note.channel} channel not configured")
        headers = {"Idempotency-Key": note.dedup_key}
        if token is not None:
            headers["Authorization"] = f"Bearer {token.get_secret_value()}"
        body = {"dedup_key": note.dedup_key, "kind": note.kind, "recipient": note.recipient, "cohort": note.cohort,
                "title": note.title, "body": note.body, "data": note.data}
        response = await self.http.post(url, json=body, headers=headers)
        if response.status_code < 300:
            return
        if 400 <= response.status_code < 500 and response.status_code not in (408, 425, 429):
            raise PermanentFailure(f"HTTP {response.status_code}")
        raise RuntimeError(f"HTTP {response.status_code}")

    async def _email(self, note: NotificationRequested) -> None:
        s = self.settings
        if not s.smtp_host:
            raise PermanentFailure("email channel not configured")
        message = EmailMessage()
        message["From"], message["To"] = s.smtp_from, s.staff_email(note.recipient)
        message["Subject"] = note.title
        # Same dedup_key → same Message-ID: a mail system may drop a copy sent in the at-least-once window.
        message["Message-ID"] = f"<{hashlib.sha256(note.dedup_key.encode()).hexdigest()[:32]}@carecircle>"
        message.set_content(note.body + "".join(f"\n{k}: {v}" for k, v in sorted(note.data.items())))
        try:
            await aiosmtplib.send(
                message, hostname=s.smtp_host, port=s.smtp_port, start_tls=s.smtp_starttls,
                username=s.smtp_user or None,
                password=s.smtp_password.get_secret_value() if s.smtp_password else None,
                timeout=s.send_timeout_s)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            raise PermanentFailure(f"recipient refused: {exc}") from None
        except aiosmtplib.SMTPResponseException as exc:
            if exc.code >= 500:
                raise PermanentFailure(f"SMTP {exc.code}") from None
            raise
