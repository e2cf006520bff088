"""Settings every service reads from the environment (pydantic-settings)."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_JWT_SECRET = "carecircle-dev-secret-change-me-0123456789"  # documented in the README; `make run` only

ClockMode = Literal["wall", "simulated"]
CLOCK_MODES: tuple[str, ...] = ("wall", "simulated")


class CommonSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore", frozen=True)

    kafka_bootstrap: str = Field(default="127.0.0.1:9092", description="Kafka bootstrap servers, comma separated")
    jwt_secret: SecretStr = Field(description="HS256 key that signs member, nurse and admin tokens", min_length=32)
    log_level: str = Field(default="INFO", description="Lowest level written to the JSON logs on stdout")
    faust_datadir: str = Field(default="var/faust", description="Where faust workers keep local files")
    topic_replication_factor: int = Field(default=1, ge=1, description="Replicas of topics faust creates (3 in prod)")
    ensure_topics: bool = Field(default=True, description="Create missing catalogue topics at start-up "
                                                          "(off in production: Strimzi owns topics)")
    # docs/clock.md: `wall` = the clock process ticks from the wall clock and no API moves time;
    # `simulated` = only POST /v1/admin/clock moves time (demo, simulator, tests, benchmarks).
    clock_mode: ClockMode = Field(default="wall", description="wall: the clock process ticks from the wall clock and no API moves time "
                                                  "(production); simulated: only POST /v1/admin/clock moves time")
    clock_tick_seconds: int = Field(default=60, ge=1, le=3600,
                                    description="Period of the clock process in wall mode (one tick each)")

    @field_validator("clock_mode", mode="before")
    @classmethod
    def _known_clock_mode(cls, value: object) -> object:
        # A typo must stop the service at start-up with the setting's name, not fall back to a mode.
        if value not in CLOCK_MODES:
            raise ValueError(f"CLOCK_MODE must be one of {', '.join(CLOCK_MODES)} (got {str(value)[:40]!r})")
        return value

    @property
    def clock_period(self) -> timedelta:
        return timedelta(seconds=self.clock_tick_seconds)
