"""faust-streaming, set up once for every CareCircle stream processor.

A service runs its faust app and its FastAPI app in ONE process and on ONE event loop: uvicorn
drives, and faust is started and stopped by the FastAPI lifespan (`faust.contrib.asgi`). Tests use
the same path through `fastapi.testclient.TestClient`.

Two facts shape the defaults (measured against the local tansu broker; docs/architecture.md,
"State rebuilt from topics, not faust changelogs"):
* faust is at-least-once: after a crash, events after the last committed offset are processed again.
  Table state must therefore be idempotent (sets of event ids / tasks, not counters).
* tansu answers ListOffsets with the last batch's base offset + 1, so changelog recovery can stop
  short; each service tests its own restart recovery against the real broker.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import faust
from faust.contrib.asgi import bind_to_running_loop, faust_lifespan

from contracts.topics import MEMBER_PARTITIONS, Topic

from .faust_transport import use_direct_delivery
from .kafka import broker_reachable, ensure_topics
from .kafka_security import KafkaSecurity, kafka_security
from .logging import log
from .settings import CommonSettings

__all__ = ["broker_credentials", "catalogue_topic", "faust_app_running", "faust_lifespan", "make_faust_app",
           "runtime_and_stream"]

# A faust app's stop commits offsets, and aiokafka waits for a group coordinator for ever when the
# broker is gone: a stop during an outage never ended (the stack, like Kubernetes after its grace
# period, had to kill it). The stop is given this long; nothing is lost past it (every state is
# rebuilt from the log or a snapshot, and the agents resume at the group's last commit).
FAUST_STOP_WITHIN_S = 8.0


def bootstrap_of(app: faust.App) -> str:
    """The app's bootstrap servers as host:port, comma separated."""
    return ",".join(f"{url.host}:{url.port}" for url in app.conf.broker)


@asynccontextmanager
async def faust_app_running(app: faust.App, stop_within_s: float = FAUST_STOP_WITHIN_S) -> AsyncIterator[faust.App]:
    """Start `app` on the running loop and stop it on exit, within `stop_within_s` (faust.contrib.asgi's
    `faust_app_running`, with a stop that does not wait for records in flight when the broker is gone
    and gives up after `stop_within_s` instead of raising)."""
    bind_to_running_loop(app)
    app.finalize()
    started = await app.maybe_start()
    try:
        yield app
    finally:
        if started:
            # faust's stop first waits until every record in flight is acknowledged, committing each
            # second, and swallows cancellation while it waits: with the broker gone, an agent stuck on
            # a publish kept the stop going for ever. Then records in flight are left to be read again
            # after the restart (at-least-once; every state here is idempotent).
            if not await broker_reachable(bootstrap_of(app)):
                app.conf.stream_wait_empty = False
            stopping = asyncio.ensure_future(app.stop())
            done, _ = await asyncio.wait({stopping}, timeout=stop_within_s)
            if not done:  # left to the process's exit (a cancelled wait_for would wait for it again)
                log.warning("faust_stop_timed_out", app=app.conf.id, seconds=stop_within_s)


def make_faust_app(app_id: str, settings: CommonSettings, **overrides: Any) -> faust.App:
    """A faust app bound to the catalogue's partitioning, with failure detection in seconds."""
    datadir = Path(settings.faust_datadir) / app_id
    datadir.parent.mkdir(parents=True, exist_ok=True)
    brokers = ";".join(f"kafka://{server.strip()}" for server in settings.kafka_bootstrap.split(","))
    config: dict[str, Any] = dict(
        broker=brokers,
        store="memory://",
        datadir=str(datadir),
        autodiscover=False,
        web_enabled=False,  # the service's FastAPI app is its web server
        topic_partitions=MEMBER_PARTITIONS,
        topic_replication_factor=settings.topic_replication_factor,
        table_standby_replicas=0,
        consumer_auto_offset_reset="earliest",
        # Defaults (60 s) leave a killed worker's partitions unprocessed for a minute.
        broker_session_timeout=settings.kafka_session_timeout_s,
        broker_heartbeat_interval=1,
        broker_rebalance_timeout=10,
        producer_acks=-1,
        **broker_credentials(kafka_security()),  # TLS + SASL in production
    )
    config.update(overrides)
    app = faust.App(app_id, **config)
    use_direct_delivery(app)
    return app


def broker_credentials(security: KafkaSecurity) -> dict[str, Any]:
    """faust's `broker_credentials` for the process's Kafka security settings (none for PLAINTEXT)."""
    if security.sasl:
        return {"broker_credentials": faust.SASLCredentials(
            username=security.sasl_username, password=security.password, mechanism=security.sasl_mechanism,
            ssl_context=security.ssl_context())}
    if security.tls:
        return {"broker_credentials": faust.SSLCredentials(security.ssl_context())}
    return {}


def catalogue_topic(app: faust.App, topic: Topic) -> faust.TopicT:
    """A catalogue topic as raw bytes: agents validate values with the `contracts/` models."""
    return app.topic(
        topic.name, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw",
        partitions=topic.partitions,
    )


@asynccontextmanager
async def runtime_and_stream(service: str, settings: CommonSettings, runtime: Any,
                             build_faust_app: Callable[[Any], faust.App], run_stream: bool) -> AsyncIterator[None]:
    """The lifespan of a stream service that keeps its state in the log (notifier, survey): catalogue
    topics (dev), the runtime (state rebuilt from the log, then tailed), then, unless `run_stream` is
    off (an API-only replica, or tests that drive the runtime), its faust agents; stopped in reverse."""
    if settings.ensure_topics:
        await asyncio.to_thread(ensure_topics, settings.kafka_bootstrap)
    await runtime.start()
    try:
        async with AsyncExitStack() as stack:
            if run_stream:
                await stack.enter_async_context(faust_app_running(build_faust_app(runtime)))
            log.info(f"{service}_started", kafka=settings.kafka_bootstrap, stream=run_stream)
            yield
    finally:
        await runtime.stop()
