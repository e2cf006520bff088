"""The shared faust set-up runs a faust app inside a FastAPI lifespan against the real broker."""

import time

from fastapi import FastAPI
from fastapi.testclient import TestClient

from contracts.topics import Topic
from services.common.kafka import Publisher, Record, ensure_topics
from services.common.settings import CommonSettings
from services.common.stream import catalogue_topic, faust_lifespan, make_faust_app

# A topic of its own: the catalogue topics of the shared test broker hold only contract records (this
# test's bare numbers on engagement.events broke every later test that reads that topic as JSON).
PROBE = Topic("test.faust-lifespan", "probe key", ("bytes",), "faust-in-lifespan test records")


async def test_faust_app_in_fastapi_lifespan_processes_the_topic(broker, jwt_secret, tmp_path):
    settings = CommonSettings(kafka_bootstrap=broker, jwt_secret=jwt_secret, faust_datadir=str(tmp_path))
    app = make_faust_app(f"stream-test-{time.time_ns()}", settings)
    seen = app.Table("seen", default=set)
    marker = f"stream-{time.time_ns()}".encode()

    ensure_topics(broker, [PROBE])

    @app.agent(catalogue_topic(app, PROBE))
    async def collect(stream):
        async for key, value in stream.items():
            if key == marker:
                seen[key] = seen[key] | {value}

    api = FastAPI(lifespan=faust_lifespan(app))

    @api.get("/seen")
    def count() -> int:
        return len(seen[marker])

    publisher = Publisher(broker)
    await publisher.publish([Record(PROBE.name, marker, str(i).encode()) for i in range(200)])
    publisher.close()
    with TestClient(api) as client:
        deadline = time.monotonic() + 60
        while client.get("/seen").json() < 200 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert client.get("/seen").json() == 200


def test_publisher_partitions_keys_exactly_like_kafka_python(broker):
    """Ingest caches each key's partition; it must be the default partitioner's, or one member's
    events and the other services' records of that member would land on different partitions."""
    from kafka.partitioner.default import DefaultPartitioner

    class Cluster:
        def topics(self):
            return {"t"}

        def partitions_for_topic(self, _):
            return set(range(6))

        available_partitions_for_topic = partitions_for_topic

    publisher = Publisher(broker)
    keys = [f"m-{i}".encode() for i in range(500)] + ["ü-ñ-😀".encode(), b"x" * 200]
    default = DefaultPartitioner()
    for key in keys * 2:  # second pass from the cache
        assert publisher._partition("t", key, list(range(6))) == default.partition("t", key, key, b"", b"", Cluster())
    assert publisher._partition("t", b"k", None) is None
    publisher.close()


def test_the_session_timeout_comes_from_the_settings(jwt_secret, tmp_path, monkeypatch):
    """Production keeps 10 s; the suite sets 4 s (conftest.py): tansu's join waits half of it."""
    monkeypatch.delenv("KAFKA_SESSION_TIMEOUT_S", raising=False)
    production = CommonSettings(jwt_secret=jwt_secret, faust_datadir=str(tmp_path))
    assert production.kafka_session_timeout_s == 10
    assert make_faust_app("session-default", production).conf.broker_session_timeout == 10
    short = CommonSettings(jwt_secret=jwt_secret, faust_datadir=str(tmp_path), kafka_session_timeout_s=4)
    assert make_faust_app("session-short", short).conf.broker_session_timeout == 4
