"""Settings every service reads from the environment (pydantic-settings)."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from contracts.topics import CATALOGUE, DEAD_LETTER_RETENTION_DAYS, OUTBOUND_RETENTION_DAYS, Topic, with_retention

DEV_JWT_SECRET = "carecircle-dev-secret-change-me-0123456789"  # documented in docs/security.md; `make run` only
# A secret containing one of these was copied from a template or a README, not generated.
_PLACEHOLDER_MARKERS = ("replace", "change-me", "changeme", "placeholder", "example", "your-secret", "xxxx")

ClockMode = Literal["wall", "simulated"]
CLOCK_MODES: tuple[str, ...] = ("wall", "simulated")


def is_placeholder_secret(secret: str) -> bool:
    lowered = secret.lower()
    return secret == DEV_JWT_SECRET or any(marker in lowered for marker in _PLACEHOLDER_MARKERS)


class ServerSettings(BaseSettings):
    """What the HTTP server (services.common.web.serve) reads before any app exists."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore", frozen=True)

    http_head_timeout_s: float = Field(default=10, gt=0, description="Close a connection whose request head "
                                                                    "is not complete within this time")
    http_max_concurrency: int = Field(default=500, ge=1, description="Connections and requests served at once; "
                                                                     "more get 503")


class CommonSettings(ServerSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore", frozen=True)

    kafka_bootstrap: str = Field(default="127.0.0.1:9092", description="Kafka bootstrap servers, comma separated")
    auth_dev: bool = Field(
        default=False,
        description="Development mode (AUTH_DEV=1): accept HS256 tokens signed "
        "with JWT_SECRET and the documented dev secret; never in production",
    )
    jwt_secret: SecretStr | None = Field(default=None, min_length=32,
                                         description="HS256 dev secret (only with AUTH_DEV=1)")
    jwt_jwks_file: str | None = Field(default=None, description="JWKS file with the token issuer's Ed25519 public keys")
    jwt_jwks_url: str | None = Field(default=None, description="JWKS URL with the token issuer's Ed25519 public keys")
    jwt_issuer: str = Field(default="carecircle-auth", description="Required `iss` of tokens")
    jwt_audience: str = Field(default="carecircle", description="Required `aud` of tokens")
    member_token_max_hours: float = Field(default=720, gt=0, le=720, description="Longest member token lifetime")
    staff_token_max_hours: float = Field(default=12, gt=0, le=12, description="Longest staff token lifetime")
    max_request_body_bytes: int = Field(default=64 * 1024, ge=1024, description="Body cap of routes without their own")
    rate_limit_per_address: str = Field(default="1000/second;20000/minute",
                                        description="Requests per client address (every request)")
    rate_limit_refused_per_address: str = Field(default="10/second;100/minute",
                                                description="Refused tokens (401) per client address")
    rate_limit_per_member: str = Field(default="50/second;2000/minute", description="Requests per member token")
    api_docs: bool = Field(default=False, description="Serve /docs and /redoc (API_DOCS=1, development: their "
                                                       "pages load Swagger UI / ReDoc from a CDN)")
    log_level: str = Field(default="INFO", description="Lowest level written to the JSON logs on stdout")
    faust_datadir: str = Field(default="var/faust", description="Where faust workers keep local files")
    topic_replication_factor: int = Field(default=1, ge=1, description="Replicas of topics faust creates (3 in prod)")
    # A consumer group's join waits for late members; tansu waits half the session timeout, and a
    # SIGKILLed member keeps its partitions for a whole one (docs/testing.md, "Time budget").
    kafka_session_timeout_s: float = Field(default=10, ge=3, le=300,
                                           description="Stream workers' consumer-group session timeout: a "
                                                       "worker silent this long loses its partitions")
    ensure_topics: bool = Field(default=True, description="Create missing catalogue topics at start-up "
                                                          "(off in production: Strimzi owns topics)")
    # docs/clock.md: `wall` = the clock process ticks from the wall clock and no API moves time;
    # `simulated` = only POST /v1/admin/clock moves time (demo, simulator, tests, benchmarks).
    clock_mode: ClockMode = Field(
        default="wall",
        description="wall: the clock process ticks from the wall clock and no API moves time "
        "(production); simulated: only POST /v1/admin/clock moves time",
    )
    clock_tick_seconds: int = Field(default=60, ge=1, le=3600,
                                    description="Period of the clock process in wall mode (one tick each)")
    # docs/scale.md, "Snapshots and restarts" (notifier, survey, metrics stream)
    snapshots_enabled: bool = Field(default=True, description="Restore the state from its snapshot topic at start "
                                                              "and write snapshots (off: full replay every start)")
    snapshot_every_records: int = Field(default=50_000, ge=100,
                                        description="Write a snapshot after this many records folded")
    snapshot_every_s: float = Field(default=300, gt=0,
                                    description="... or after this many seconds, if anything was folded")

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

    @model_validator(mode="after")
    def _verification_keys(self):
        """Refuse to start with a key nobody should trust: a dev/placeholder secret outside AUTH_DEV,
        or no way at all to verify a token."""
        secret = self.jwt_secret.get_secret_value() if self.jwt_secret else None
        if secret and not self.auth_dev and is_placeholder_secret(secret):
            raise ValueError("JWT_SECRET is the documented dev secret or a placeholder; generate one "
                             "(openssl rand -base64 48) or set AUTH_DEV=1 for local development")
        if not (self.jwt_jwks_file or self.jwt_jwks_url or (self.auth_dev and secret)):
            raise ValueError("no token verification key: set JWT_JWKS_FILE or JWT_JWKS_URL "
                             "(or AUTH_DEV=1 with JWT_SECRET for local development)")
        return self


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
