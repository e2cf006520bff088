"""A stream-only metrics process (`METRICS_RUN_SINK=false`, `METRICS_RUN_STREAM=true`: the scaled
`metrics-stream` Deployment) serves probes and /metrics only: no metrics API, no dashboard, and no
ClickHouse to open (docs/scale.md, "The metrics stream"). The lifespan is not run here: routing only."""

from fastapi.testclient import TestClient

from services.metrics.app import create_app
from services.metrics.settings import MetricsSettings


def test_stream_only_process_serves_probes_and_metrics_but_no_api():
    settings = MetricsSettings(kafka_bootstrap="127.0.0.1:1", jwt_secret="x" * 40, run_sink=False,
                               clickhouse_url="clickhouse://nowhere:9000/never")
    stream = TestClient(create_app(settings), raise_server_exceptions=False)
    assert stream.get("/healthz").status_code == 200 and stream.get("/metrics").status_code == 200
    assert stream.get("/v1/cohorts/c/weekly").status_code == 404 and stream.get("/").status_code == 404
    api = TestClient(create_app(settings.model_copy(update={"run_stream": False})), raise_server_exceptions=False)
    assert api.get("/v1/cohorts/c/weekly").status_code != 404  # the API process does route it (401 unsigned)
