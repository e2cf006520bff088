"""The shared faust set-up runs a faust app inside a FastAPI lifespan against the real broker."""

import time

from fastapi import FastAPI
from fastapi.testclient import TestClient

from contracts.topics import ENGAGEMENT_EVENTS
from services.common.kafka import Publisher, Record
from services.common.settings import CommonSettings
from services.common.stream import catalogue_topic, faust_lifespan, make_faust_app


async def test_faust_app_in_fastapi_lifespan_processes_the_topic(broker, jwt_secret, tmp_path):
    settings = CommonSettings(kafka_bootstrap=broker, jwt_secret=jwt_secret, faust_datadir=str(tmp_path))
    app = make_faust_app(f"stream-test-{time.time_ns()}", settings)
    seen = app.Table("seen", default=set)
    marker = f"stream-{time.time_ns()}".encode()

    @app.agent(catalogue_topic(app, ENGAGEMENT_EVENTS))
    async def collect(stream):
        async for key, value in stream.items():
            if key == marker:
                seen[key] = seen[key] | {value}

    api = FastAPI(lifespan=faust_lifespan(app))

    @api.get("/seen")
    def count() -> int:
        return len(seen[marker])

    publisher = Publisher(broker)
    await publisher.publish([Record(ENGAGEMENT_EVENTS.name, marker, str(i).encode()) for i in range(200)])
    publisher.close()
    with TestClient(api) as client:
        deadline = time.monotonic() + 60
        while client.get("/seen").json() < 200 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert client.get("/seen").json() == 200
