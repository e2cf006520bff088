"""How every Kafka client of CareCircle authenticates: the one place that reads the `KAFKA_*` security
settings and turns them into kafka-python and aiokafka options, so that a producer, a consumer and a faust
app of one process always connect the same way (faust's credentials are built from the same object in
services/common/stream.py, so that only the stream processors import faust).

Production (deploy/k8s): `KAFKA_SECURITY_PROTOCOL=SASL_SSL`, `KAFKA_SASL_MECHANISM=SCRAM-SHA-512`, the
service's own `KAFKA_SASL_USERNAME`/`KAFKA_SASL_PASSWORD` (a Strimzi KafkaUser) and `KAFKA_SSL_CAFILE`
(the cluster CA). Development and tests: `PLAINTEXT`, the default, with nothing else set.
"""

from __future__ import annotations

import ssl
from functools import lru_cache
from typing import Any, Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

Protocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
Mechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


class KafkaSecurityError(ValueError):
    pass


class KafkaSecurity(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KAFKA_", extra="ignore")

    security_protocol: Protocol = Field(default="PLAINTEXT", description="PLAINTEXT (dev) or SASL_SSL (production)")
    sasl_mechanism: Mechanism = Field(default="SCRAM-SHA-512", description="SASL mechanism (SASL_* protocols)")
    sasl_username: str | None = Field(default=None, description="the service's KafkaUser name")
    sasl_password: SecretStr | None = Field(default=None, description="the KafkaUser's password")
    ssl_cafile: str | None = Field(default=None, description="PEM file of the cluster CA (SSL protocols)")

    def checked(self) -> KafkaSecurity:
        """Refuses an incomplete setup with a plain error naming the settings (never their values: a
        pydantic validation error would echo the input, password included)."""
        if self.sasl and not (self.sasl_username and self.sasl_password):
            raise KafkaSecurityError(f"KAFKA_SECURITY_PROTOCOL={self.security_protocol} needs KAFKA_SASL_USERNAME "
                             "and KAFKA_SASL_PASSWORD")
        if self.tls and not self.ssl_cafile:
            raise KafkaSecurityError(f"KAFKA_SECURITY_PROTOCOL={self.security_protocol} needs KAFKA_SSL_CAFILE "
                             "(the cluster CA: the broker's certificate is verified, never trusted blindly)")
        return self

    @property
    def password(self) -> str | None:
        return self.sasl_password.get_secret_value() if self.sasl_password else None

    @property
    def sasl(self) -> bool:
        return self.security_protocol.startswith("SASL_")

    @property
    def tls(self) -> bool:
        return self.security_protocol.endswith("SSL")

    def ssl_context(self) -> ssl.SSLContext | None:
        """Verifies the broker's certificate and host name against the cluster CA (TLS 1.2 or newer)."""
        if not self.tls:
            return None
        context = ssl.create_default_context(cafile=self.ssl_cafile)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        return context

    def _sasl_options(self) -> dict[str, Any]:
        if not self.sasl:
            return {}
        return {"sasl_mechanism": self.sasl_mechanism, "sasl_plain_username": self.sasl_username,
                "sasl_plain_password": self.password}

    def kafka_python(self) -> dict[str, Any]:
        """Options for kafka-python's KafkaProducer / KafkaConsumer / KafkaAdminClient."""
        options: dict[str, Any] = {"security_protocol": self.security_protocol, **self._sasl_options()}
        if self.tls:
            options.update(ssl_cafile=self.ssl_cafile, ssl_check_hostname=True)
        return options

    def aiokafka(self) -> dict[str, Any]:
        """Options for aiokafka's AIOKafkaConsumer / AIOKafkaProducer / AIOKafkaAdminClient."""
        options: dict[str, Any] = {"security_protocol": self.security_protocol, **self._sasl_options()}
        if self.tls:
            options["ssl_context"] = self.ssl_context()
        return options

@lru_cache
def kafka_security() -> KafkaSecurity:
    """The process's settings, read once from the environment."""
    return KafkaSecurity().checked()


def kafka_python_options() -> dict[str, Any]:
    return kafka_security().kafka_python()


def aiokafka_options() -> dict[str, Any]:
    return kafka_security().aiokafka()
