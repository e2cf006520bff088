"""Every service's FastAPI app in-process against the real broker (and real chDB for metrics)."""

from __future__ import annotations

import time
from contextlib import ExitStack, contextmanager
from pathlib import Path

from fastapi.testclient import TestClient

from services.ingest.app import create_app as ingest_app
from services.ingest.settings import IngestSettings
from services.metrics.app import create_app as metrics_app
from services.metrics.clickhouse import connect
from services.metrics.schema import migrate
from services.metrics.settings import MetricsSettings
from services.notifier.app import create_app as notifier_app
from services.notifier.settings import NotifierSettings
from services.survey.app import create_app as survey_app
from services.survey.settings import SurveySettings


@contextmanager
def all_services(bootstrap: str, jwt_secret: str, workdir: Path, sink: bool = False):
    """{name: TestClient} for the four services; stream processing off (requests are what is tested).
    `sink`: metrics also runs its ClickHouse sink (what GET /v1/audit reads)."""
    common = {"kafka_bootstrap": bootstrap, "jwt_secret": jwt_secret, "faust_datadir": str(workdir / "faust")}
    # metrics runs as its API-only Deployment does: the schema is the worker's (the sink's) to migrate
    ch = connect(f"chdb://{workdir / 'chdb'}")
    migrate(ch)
    ch.close()
    apps = {
        "ingest": ingest_app(IngestSettings(**common)),
        "metrics": metrics_app(MetricsSettings(**common, clickhouse_url=f"chdb://{workdir / 'chdb'}",
                                               run_stream=False, run_sink=sink, rollup_interval_s=0)),
        "notifier": notifier_app(NotifierSettings(**common), run_stream=False),
        "survey": survey_app(SurveySettings(**common), run_stream=False),
    }
    with ExitStack() as stack:
        clients = {name: stack.enter_context(TestClient(app, raise_server_exceptions=False)) for name, app in apps.items()}
        # they rebuild their state from the log (ingest: its member directory) before serving
        for name in ("ingest", "notifier", "survey", *(("metrics",) if sink else ())):
            client = clients[name]
            deadline = time.monotonic() + 90
            while client.get("/readyz").status_code != 200:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{name} not ready")
                time.sleep(0.2)
        yield clients
