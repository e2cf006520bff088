"""Settings every service reads from the environment (pydantic-settings)."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_JWT_SECRET = "carecircle-dev-secret-change-me-0123456789"  # documented in the README; `make run` only


class CommonSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore", frozen=True)

    kafka_bootstrap: str = Field(default="127.0.0.1:9092", description="Kafka bootstrap servers, comma separated")
    jwt_secret: SecretStr = Field(description="HS256 key that signs member, nurse and admin tokens", min_length=32)
    log_level: str = Field(default="INFO", description="Lowest level written to the JSON logs on stdout")
    faust_datadir: str = Field(default="var/faust", description="Where faust workers keep local files")
    topic_replication_factor: int = Field(default=1, ge=1, description="Replicas of topics faust creates (3 in prod)")
    ensure_topics: bool = Field(default=True, description="Create missing catalogue topics at start-up "
                                                          "(off in production: Strimzi owns topics)")
