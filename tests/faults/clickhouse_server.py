"""A real `clickhouse-server` process (Debian's package, 18.16) on free ports, for outage tests.

18.16 is far older than the schema the metrics service uses (no DateTime64, LowCardinality), so it
serves protocol-level tests of the clickhouse-driver path on tables it accepts."""

from __future__ import annotations

import shutil
import signal
import subprocess
from pathlib import Path

from services.common.broker import free_port, wait_for_port

CONFIG = """<yandex>
  <logger><level>warning</level><console>1</console></logger>
  <tcp_port>{tcp}</tcp_port>
  <http_port>{http}</http_port>
  <listen_host>127.0.0.1</listen_host>
  <path>{root}/data/</path>
  <tmp_path>{root}/tmp/</tmp_path>
  <users_config>{root}/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <mark_cache_size>536870912</mark_cache_size>
</yandex>
"""


class ClickHouseServer:
    def __init__(self, root: Path) -> None:
        binary = shutil.which("clickhouse-server")
        if binary is None:
            raise RuntimeError("clickhouse-server is not installed (.ci/run installs Debian's package)")
        self.binary, self.root, self.port = binary, root, free_port()
        (root / "data").mkdir(parents=True, exist_ok=True)
        (root / "tmp").mkdir(exist_ok=True)
        shutil.copy("/etc/clickhouse-server/users.xml", root / "users.xml")
        (root / "config.xml").write_text(CONFIG.format(tcp=self.port, http=free_port(), root=root))
        self.process: subprocess.Popen | None = None

    def start(self) -> "ClickHouseServer":
        log = open(self.root / "server.log", "ab")
        self.process = subprocess.Popen([self.binary, f"--config-file={self.root / 'config.xml'}"],
                                        stdout=log, stderr=subprocess.STDOUT)
        wait_for_port(self.port, timeout_s=30)
        return self

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)
