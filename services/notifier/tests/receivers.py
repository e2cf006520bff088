"""Local stand-ins for the outside world: a push-gateway/webhook receiver and an SMTP server."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller


class HttpReceiver:
    """Records every POSTed JSON body; answers `status` (200 unless told otherwise)."""

    def __init__(self, port: int, status: int = 200) -> None:
        self.port, self.status, self.bodies, self.headers = port, status, [], []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if receiver.status < 300:
                    receiver.bodies.append(body)
                    receiver.headers.append(dict(self.headers))
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/push"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], str]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        self.messages.append((list(envelope.rcpt_tos), envelope.content.decode("utf-8", "replace")))
        return "250 OK"


class SmtpServer:
    def __init__(self, port: int) -> None:
        self.inbox = _Inbox()
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=port)
        self.controller.start()

    @property
    def messages(self):
        return self.inbox.messages

    def stop(self) -> None:
        self.controller.stop()
