"""CORS: browser apps on the configured origins may call ingest; none by default."""

from .conftest import ingest_client

PREFLIGHT = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization,content-type"}


def test_only_configured_origins_get_cors_headers(broker, jwt_secret, mint):
    with ingest_client(broker, jwt_secret, cors_origins="https://app.example.org, https://beta.example.org") as client:
        allowed = client.options("/v1/events", headers=PREFLIGHT | {"Origin": "https://app.example.org"})
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == "https://app.example.org"
        posted = client.post("/v1/events", json=[], headers={"Origin": "https://beta.example.org",
                                                               "Authorization": f"Bearer {mint('ops', 'admin')}"})
        assert posted.headers["access-control-allow-origin"] == "https://beta.example.org"
        assert "retry-after" in posted.headers["access-control-expose-headers"].lower()
        foreign = client.options("/v1/events", headers=PREFLIGHT | {"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in foreign.headers


def test_no_origin_is_allowed_by_default(broker, jwt_secret):
    with ingest_client(broker, jwt_secret) as client:
        response = client.options("/v1/events", headers=PREFLIGHT | {"Origin": "https://app.example.org"})
        assert "access-control-allow-origin" not in response.headers
