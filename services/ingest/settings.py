from __future__ import annotations

from functools import lru_cache

from pydantic import Field

from services.common.settings import CommonSettings


class IngestSettings(CommonSettings):
    # Prefixed: process runners (honcho) set a generic PORT for every process.
    host: str = Field(default="127.0.0.1", validation_alias="INGEST_HOST", description="Listen address")
    port: int = Field(default=8001, validation_alias="INGEST_PORT", description="Listen port")
    max_body_bytes: int = Field(default=1024 * 1024, description="Larger requests get 413")
    max_batch: int = Field(default=500, ge=1, le=500, description="Most events in one POST /v1/events")
    delivery_timeout_ms: int = Field(default=5_000, ge=500, description="Broker acknowledgement deadline before 503")
    member_rate_limit: str = Field(
        default="20/second;600/minute",
        description="Requests per member token (admins exempt: backfills and simulations)",
    )
    retry_after_s: int = Field(default=5, ge=1, description="Retry-After sent with 503")
    member_event_limit: str = Field(
        default="5000/hour",
        description="Events (not requests) per member token; a request that would pass it gets 429 as a whole",
    )
    max_event_age_days: int = Field(
        default=30, ge=1, le=3650, description="Events whose occurred_at lies further before the latest clock tick are refused"
    )
    directory_startup_wait_s: float = Field(
        default=30, ge=0, le=600, description="How long the start waits for the member directory before serving"
    )
    cors_origins: str = Field(
        default="",
        description="Comma-separated web-app origins allowed to call the API from a browser (CORS), e.g. "
                    "https://app.example.org; empty: none (docs/clients.md)",
    )
    directory_idle_s: float = Field(
        default=0.5, gt=0, le=30, description="Quiet time that proves the members/clock log was read to its end"
    )

    def cors_origin_list(self) -> list[str]:
        return [origin.strip() for origin in self.cors_origins.split(",") if origin.strip()]


@lru_cache
def get_settings() -> IngestSettings:
    return IngestSettings()
