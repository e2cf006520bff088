from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.common.dedup_settings import DedupSettings
from services.common.settings import CommonSettings
from services.common.waiting_settings import WaitingSettings

REPO = Path(__file__).resolve().parents[2]


class MetricsSettings(CommonSettings, WaitingSettings, DedupSettings):
    model_config = SettingsConfigDict(populate_by_name=True)

    # Prefixed: process runners (honcho) set a generic PORT for every process.
    host: str = Field(default="127.0.0.1", validation_alias="METRICS_HOST", description="Listen address")
    port: int = Field(default=8002, validation_alias="METRICS_PORT", description="Listen port")
    clickhouse_url: str = Field(
        default=f"chdb://{REPO / 'var' / 'chdb'}", validation_alias="CLICKHOUSE_URL",
        description="chdb:///path (embedded, one process) or clickhouse://host:9000/db (clickhouse-driver)",
    )
    clickhouse_replicated: bool = Field(
        default=False, validation_alias="CLICKHOUSE_REPLICATED",
        description="The server is a replicated cluster (Keeper): create the database with the Replicated engine",
    )
    sink_batch_max: int = Field(default=20_000, ge=1, validation_alias="METRICS_SINK_BATCH_MAX",
                                description="Most records written to ClickHouse in one batch")
    sink_poll_ms: int = Field(default=200, ge=10, validation_alias="METRICS_SINK_POLL_MS",
                              description="Longest wait for new records before the sink writes what it has")
    sink_retry_max_s: float = Field(default=10.0, gt=0, validation_alias="METRICS_SINK_RETRY_MAX_S",
                                    description="Longest back-off between ClickHouse write retries")
    rollup_interval_s: float = Field(default=30.0, ge=0, validation_alias="METRICS_ROLLUP_INTERVAL_S",
                                     description="How often the member_days rollup (Grafana) is refreshed; 0 = never")
    run_sink: bool = Field(default=True, validation_alias="METRICS_RUN_SINK",
                           description="Run the ClickHouse sink in this process (exactly one process may)")
    run_stream: bool = Field(default=True, validation_alias="METRICS_RUN_STREAM",
                             description="Run the faust member-day agents in this process")
    group_id: str = Field(default="carecircle-metrics", validation_alias="METRICS_GROUP_ID",
                          description="Consumer group of the member-day agents (stable: N stream workers "
                                      "share the partitions; docs/scale.md)")
    rebalance_flush_s: float = Field(default=5.0, gt=0, validation_alias="METRICS_REBALANCE_FLUSH_S",
                                     description="Longest wait, when partitions are revoked, for queued "
                                                 "engagement.daily records to be acknowledged")


@lru_cache
def get_settings() -> MetricsSettings:
    return MetricsSettings()
