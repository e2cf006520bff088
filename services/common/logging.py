"""JSON logs via structlog; standard-library loggers (uvicorn, kafka) are routed through the same renderer."""

from __future__ import annotations

import logging
import re
import sys

import structlog
from pydantic import SecretBytes, SecretStr

_SECRET_KEYS = frozenset({"authorization", "token", "jwt", "password", "note", "text", "jwt_secret", "secret"})
# user:password@ in any URL (CLICKHOUSE_URL, SMTP, webhooks): the password goes, the rest helps debugging
_URL_PASSWORD = re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*):[^@\s/]*@")
# pydantic's error text quotes the offending input: "input_value='…', input_type=str"
_INPUT_VALUE = re.compile(r"input_value=.*?(, input_type=|\]|$)", re.DOTALL)
_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+")


def scrub(text: str) -> str:
    """A log string without URL passwords, bearer tokens or the input values quoted by validation errors."""
    if "@" in text:
        text = _URL_PASSWORD.sub(r"\1:[redacted]@", text)
    if "input_value=" in text:
        text = _INPUT_VALUE.sub(r"input_value=[redacted]\1", text)
    if "earer" in text:
        text = _BEARER.sub(r"\1[redacted]", text)
    return text


def error_summary(exc: BaseException, limit: int = 300) -> str:
    """An error for the logs without the input that caused it: for a validation error the fields and
    error types only (its messages can quote the value, e.g. "unknown IANA time zone 'X'")."""
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(map(str, e['loc'])) or '(record)'}: {e['type']}"
                         for e in exc.errors(include_input=False))[:limit]
    return type(exc).__name__


def _drop_secrets(_, __, event_dict: dict) -> dict:
    for key in _SECRET_KEYS & event_dict.keys():
        event_dict[key] = "[redacted]"
    for key, value in event_dict.items():
        if isinstance(value, (SecretStr, SecretBytes)):
            event_dict[key] = "[redacted]"
        elif isinstance(value, str):
            event_dict[key] = scrub(value)
    return event_dict


def configure_logging(service: str, level: str = "INFO") -> None:
    shared = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _drop_secrets,
    ]
    structlog.configure(
        # exception text is rendered by format_exc_info, so secrets are dropped again after it
        processors=[*shared, structlog.processors.format_exc_info, _drop_secrets, structlog.processors.JSONRenderer()],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(service=service)
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, structlog.processors.format_exc_info,
                        _drop_secrets, structlog.processors.JSONRenderer()],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)  # access lines would log per event batch
    logging.getLogger("kafka").setLevel(logging.WARNING)
    for noisy in ("faust", "mode", "aiokafka"):  # their INFO lines narrate every rebalance step
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


log = structlog.get_logger()
