from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.common.settings import CommonSettings


class ClockSettings(CommonSettings):
    model_config = SettingsConfigDict(populate_by_name=True)

    # Prefixed: process runners (honcho) set a generic PORT for every process.
    host: str = Field(default="127.0.0.1", validation_alias="CLOCK_HOST", description="Address of /healthz, /readyz, /metrics")
    port: int = Field(default=8005, validation_alias="CLOCK_PORT", description="Port of /healthz, /readyz, /metrics")
    delivery_timeout_ms: int = Field(default=5_000, ge=500, validation_alias="CLOCK_DELIVERY_TIMEOUT_MS",
                                     description="Broker acknowledgement deadline of one tick")
    retry_max_s: float = Field(default=5.0, gt=0, validation_alias="CLOCK_RETRY_MAX_S",
                               description="Longest pause between attempts while the broker is down")


@lru_cache
def get_settings() -> ClockSettings:
    return ClockSettings()
