import pytest
from fastapi.testclient import TestClient

from services.ingest.app import create_app
from services.ingest.settings import IngestSettings


def ingest_client(bootstrap: str, jwt_secret: str, **overrides) -> TestClient:
    settings = IngestSettings(kafka_bootstrap=bootstrap, jwt_secret=jwt_secret, **overrides)
    return TestClient(create_app(settings), raise_server_exceptions=False)


@pytest.fixture
def client(broker, jwt_secret):
    with ingest_client(broker, jwt_secret) as c:
        yield c
