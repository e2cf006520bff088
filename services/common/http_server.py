"""uvicorn's httptools protocol with a request-head deadline.

uvicorn times out idle keep-alive connections but not a request head that never completes: a client
sending one header byte at a time held a connection (and its memory) open indefinitely. This protocol
closes a connection whose request head (request line and headers) is not complete within
`head_timeout_s` of the connection opening or the request's first byte (docs/security.md)."""

from __future__ import annotations

from asyncio import TimerHandle

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


def head_timeout_protocol(head_timeout_s: float) -> type[HttpToolsProtocol]:
    class HeadTimeoutProtocol(HttpToolsProtocol):
        _head_timer: TimerHandle | None = None

        def connection_made(self, transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm_head_timer()

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._arm_head_timer()

        def on_headers_complete(self) -> None:
            self._cancel_head_timer()
            super().on_headers_complete()

        def connection_lost(self, exc: Exception | None) -> None:
            self._cancel_head_timer()
            super().connection_lost(exc)

        def _arm_head_timer(self) -> None:
            self._cancel_head_timer()
            self._head_timer = self.loop.call_later(head_timeout_s, self._head_too_slow)

        def _cancel_head_timer(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def _head_too_slow(self) -> None:
            self._head_timer = None
            if not self.transport.is_closing():
                self.transport.close()

    return HeadTimeoutProtocol
