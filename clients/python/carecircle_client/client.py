"""`CareCircleClient`: track, queue on disk, send in batches, retry with the same ids, read today."""

from __future__ import annotations

import base64
import json
import logging
import random
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt

from .events import event, without_none
from .queue import EventQueue

log = logging.getLogger("carecircle_client")

MAX_BATCH = 500  # the most events ingest takes in one request
RETRY_STATUSES = {429, 502, 503, 504}
# Ingest refuses events of a member whose enrolment it has not seen yet; the enrolment is on its way,
# so these stay queued and go again with a later flush instead of being dropped as invalid.
RETRY_LATER_ERRORS = {"not_enrolled"}


@dataclass(frozen=True)
class Rejection:
    """An event ingest refused for good (it is dropped from the queue)."""
    event: dict[str, Any]
    errors: list[dict[str, Any]]


@dataclass
class FlushResult:
    accepted: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    pending: int = 0  # still queued (not enrolled yet, or the flush stopped)


class ClientError(Exception):
    """A request ingest will not take as sent (401/403/4xx) or retries ran out; events stay queued."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class _Retryable(Exception):
    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After", "")
    return float(value) if value.strip().isdigit() else None


def _json_or_empty(response: httpx.Response) -> dict:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def token_subject(token: str) -> str:
    """The token's `sub` (read, not verified: ingest verifies it) as the default member_id."""
    try:
        part = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
        return str(claims["sub"])
    except (IndexError, KeyError, ValueError) as exc:
        raise ValueError("token is not a JWT with a subject; pass member_id") from exc


class CareCircleClient:
    """One member's (or an admin's) event sender.

    `track_*` writes the event to the queue and returns at once; events go out when `batch_size`
    are queued or `flush_interval_s` passes (background thread), or on `flush()`/`close()`."""

    def __init__(self, base_url: str, token: str, *, member_id: str | None = None,
                 queue_path: str | Path = ":memory:", batch_size: int = MAX_BATCH,
                 flush_interval_s: float | None = 5.0, max_attempts: int = 6, max_wait_s: float = 60.0,
                 on_rejected: Callable[[Rejection], None] | None = None, notifier_url: str | None = None,
                 http: httpx.Client | None = None, sleep: Callable[[float], None] = time.sleep,
                 timeout_s: float = 10.0) -> None:
        if not 1 <= batch_size <= MAX_BATCH:
            raise ValueError(f"batch_size must be 1 to {MAX_BATCH}")
        self.base_url = base_url.rstrip("/")
        self.notifier_url = (notifier_url or base_url).rstrip("/")
        self.member_id = member_id or token_subject(token)
        self.queue = EventQueue(queue_path)
        self.batch_size = batch_size
        self.on_rejected = on_rejected
        self._headers = {"Authorization": f"Bearer {token}"}
        self._http = http or httpx.Client(timeout=timeout_s)
        self._sleep = sleep
        self._max_attempts = max_attempts
        self._max_wait_s = max_wait_s
        self._flushing = threading.Lock()  # one flush at a time: a batch is never in flight twice
        self._wake = threading.Event()
        self._closed = threading.Event()
        self._flusher: threading.Thread | None = None
        if flush_interval_s:
            self._flusher = threading.Thread(target=self._flush_loop, args=(flush_interval_s,), daemon=True,
                                             name="carecircle-flush")
            self._flusher.start()

    # --- tracking: one helper per event type of contracts/events.py -------------------------------
    def track_login(self, occurred_at: datetime | None = None, member_id: str | None = None) -> str:
        return self._track("login", {}, occurred_at, member_id)

    def track_post(self, channel: str, topic: str | None = None, occurred_at: datetime | None = None,
                   member_id: str | None = None) -> str:
        return self._track("post", without_none(channel=channel, topic=topic), occurred_at, member_id)

    def track_checkin(self, task: str, steps: int | None = None, occurred_at: datetime | None = None,
                      member_id: str | None = None) -> str:
        return self._track("checkin", without_none(task=task, steps=steps), occurred_at, member_id)

    def track_meditation_play(self, content_id: str, seconds: int, completed: bool,
                              occurred_at: datetime | None = None, member_id: str | None = None) -> str:
        payload = {"content_id": content_id, "seconds": seconds, "completed": completed}
        return self._track("meditation_play", payload, occurred_at, member_id)

    def _track(self, kind: str, payload: dict[str, Any], occurred_at: datetime | None, member_id: str | None) -> str:
        body = event(kind, member_id or self.member_id, payload, occurred_at)
        self.queue.put(body)
        if len(self.queue) >= self.batch_size:
            self._wake.set()
        return body["event_id"]

    # --- sending ---------------------------------------------------------------------------------
    def flush(self) -> FlushResult:
        """Send every queued event, oldest first, in batches of at most `batch_size`.

        Raises ClientError when ingest refuses the request itself or retries run out; the events
        of the unsent batches stay queued for the next flush."""
        result = FlushResult()
        with self._flushing:
            retry_later: set[str] = set()
            while True:
                batch = [e for e in self.queue.peek(self.batch_size + len(retry_later))
                         if e["event_id"] not in retry_later][: self.batch_size]
                if not batch:
                    break
                accepted, rejected = self._send_with_retries(batch)
                result.accepted += accepted
                for index, errors in rejected.items():
                    if errors and errors[0].get("type") in RETRY_LATER_ERRORS:
                        retry_later.add(batch[index]["event_id"])
                        continue
                    rejection = Rejection(batch[index], errors)
                    result.rejected.append(rejection)
                    if self.on_rejected is not None:
                        self.on_rejected(rejection)
                self.queue.remove(e["event_id"] for e in batch if e["event_id"] not in retry_later)
            result.pending = len(self.queue)
        return result

    def _send_with_retries(self, batch: list[dict[str, Any]]) -> tuple[int, dict[int, list[dict]]]:
        """The whole batch, byte for byte the same on every attempt (same ids, same times)."""
        body = json.dumps(batch, separators=(",", ":")).encode()
        retrying = Retrying(retry=retry_if_exception_type(_Retryable), stop=stop_after_attempt(self._max_attempts),
                            wait=self._wait, sleep=self._sleep, reraise=True)
        try:
            return retrying(self._post_batch, body)
        except _Retryable as exc:
            raise ClientError(f"ingest unavailable after {self._max_attempts} attempts ({exc}); "
                              f"{len(self.queue)} events kept in the queue") from None

    def _wait(self, state: RetryCallState) -> float:
        """Retry-After when the server sent one, else exponential backoff with full jitter."""
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _Retryable) and exc.retry_after is not None:
            return min(exc.retry_after, self._max_wait_s)
        return random.uniform(0, min(self._max_wait_s, 0.5 * 2 ** state.attempt_number))

    def _post_batch(self, body: bytes) -> tuple[int, dict[int, list[dict]]]:
        try:
            response = self._http.post(f"{self.base_url}/v1/events", content=body,
                                       headers={**self._headers, "Content-Type": "application/json"})
        except httpx.TransportError as exc:
            raise _Retryable(f"network: {type(exc).__name__}") from None
        if response.status_code in RETRY_STATUSES:
            raise _Retryable(f"HTTP {response.status_code}", _retry_after(response))
        if response.status_code == 202:
            data = response.json()
            return data["accepted"], {r["index"]: r["errors"] for r in data.get("rejected", [])}
        if response.status_code == 422:
            detail = _json_or_empty(response).get("detail")
            if isinstance(detail, list):  # no valid event in the batch: each index with its errors
                return 0, {r["index"]: r["errors"] for r in detail}
        raise ClientError(f"ingest refused the request: HTTP {response.status_code} {response.text[:200]}",
                          response.status_code)

    def _flush_loop(self, interval_s: float) -> None:
        while not self._closed.is_set():
            self._wake.wait(interval_s)
            self._wake.clear()
            if self._closed.is_set() or not len(self.queue):
                continue
            try:
                self.flush()
            except ClientError as exc:  # kept queued; the next tick tries again
                log.warning("carecircle flush failed: %s", exc)

    # --- reading ---------------------------------------------------------------------------------
    def today(self) -> dict[str, Any]:
        """The member's own day from the notifier: tasks in force today, which are done, reminders."""
        response = self._http.get(f"{self.notifier_url}/v1/members/me/today", headers=self._headers)
        if response.status_code != 200:
            raise ClientError(f"today: HTTP {response.status_code} {response.text[:200]}", response.status_code)
        return response.json()

    def close(self, flush: bool = True) -> None:
        """Stop the background flusher, send what is queued (when reachable) and close the queue."""
        self._closed.set()
        self._wake.set()
        if self._flusher is not None:
            self._flusher.join()
        try:
            if flush and len(self.queue):
                self.flush()
        finally:
            self.queue.close()

    def __enter__(self) -> "CareCircleClient":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
