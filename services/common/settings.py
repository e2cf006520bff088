"""Settings every service reads from the environment (pydantic-settings)."""

from __future__ import annotations

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from contracts.topics import CATALOGUE, DEAD_LETTER_RETENTION_DAYS, OUTBOUND_RETENTION_DAYS, Topic, with_retention

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


class RetentionSettings(BaseSettings):
    """How long the topics that hold message text are kept (KAFKA_RETENTION_*; docs/retention.md).
    Used when a service creates the topics; in Kubernetes the KafkaTopic resources carry the same values."""

    model_config = SettingsConfigDict(env_prefix="KAFKA_RETENTION_", env_file=None, extra="ignore", frozen=True)

    dead_letter_days: int = Field(default=DEAD_LETTER_RETENTION_DAYS, ge=1, le=3650,
                                  description="Days the *.dlq topics keep a dead letter")
    outbound_days: int = Field(default=OUTBOUND_RETENTION_DAYS, ge=1, le=3650,
                               description="Days notifications.outbound keeps requests and outcomes")

    @model_validator(mode="after")
    def _outbound_outlives_dead_letters(self) -> RetentionSettings:
        if self.outbound_days < self.dead_letter_days:
            raise ValueError("KAFKA_RETENTION_OUTBOUND_DAYS must be at least KAFKA_RETENTION_DEAD_LETTER_DAYS "
                             "(a replay checks the dead letter against the delivery records)")
        return self

    def catalogue(self, catalogue: tuple[Topic, ...] = CATALOGUE) -> tuple[Topic, ...]:
        return with_retention(self.dead_letter_days, self.outbound_days, catalogue)
