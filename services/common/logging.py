"""JSON logs via structlog; standard-library loggers (uvicorn, kafka) are routed through the same renderer."""

from __future__ import annotations

import logging
import sys

import structlog

_SECRET_KEYS = frozenset({"authorization", "token", "jwt", "password", "note", "text"})


def _drop_secrets(_, __, event_dict: dict) -> dict:
    for key in _SECRET_KEYS & event_dict.keys():
        event_dict[key] = "[redacted]"
    return event_dict


def configure_logging(service: str, level: str = "INFO") -> None:
    shared = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _drop_secrets,
    ]
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, structlog.processors.JSONRenderer()],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(service=service)
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, structlog.processors.JSONRenderer()],
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
