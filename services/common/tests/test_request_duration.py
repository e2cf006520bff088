"""The request duration histogram: one series per route template and method, never per raw path."""

from __future__ import annotations

import importlib

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY

from services.common.web import RequestTelemetry


def _count(service: str, method: str, route: str) -> float:
    return REGISTRY.get_sample_value("http_request_duration_seconds_count",
                                     {"service": service, "method": method, "route": route}) or 0.0


def _app() -> FastAPI:
    app = FastAPI()
    app.add_middleware(RequestTelemetry, service="unit")  # what install_in_flight_gauge adds to every service

    @app.get("/v1/members/{member_id}/today")
    async def today(member_id: str) -> dict:
        return {"ok": True}

    @app.post("/v1/boom")
    async def boom() -> dict:
        raise RuntimeError("boom")

    return app


def test_duration_is_labelled_by_route_template_not_by_member_id():
    before = _count("unit", "GET", "/v1/members/{member_id}/today")
    with TestClient(_app()) as client:
        assert client.get("/v1/members/m-0042/today").status_code == 200
        assert client.get("/v1/members/m-0043/today").status_code == 200
    assert _count("unit", "GET", "/v1/members/{member_id}/today") == before + 2
    exported = "\n".join(f"{s.labels}" for m in REGISTRY.collect() for s in m.samples
                         if s.name.startswith("http_request_duration_seconds"))
    assert "m-0042" not in exported and "m-0043" not in exported


def test_unknown_paths_methods_and_crashes_are_still_bounded_series():
    before_unmatched = _count("unit", "GET", "unmatched")
    before_other = _count("unit", "other", "/v1/members/{member_id}/today")
    before_crash = _count("unit", "POST", "/v1/boom")
    with TestClient(_app(), raise_server_exceptions=False) as client:
        assert client.get("/v1/members/m-1/secret/path").status_code == 404
        client.request("BREW", "/v1/members/m-1/today")
        assert client.post("/v1/boom").status_code == 500
    assert _count("unit", "GET", "unmatched") == before_unmatched + 1
    assert _count("unit", "other", "/v1/members/{member_id}/today") == before_other + 1
    assert _count("unit", "POST", "/v1/boom") == before_crash + 1


@pytest.mark.parametrize("service", ["ingest", "metrics", "notifier", "survey"])
def test_every_service_app_measures_its_requests(service, monkeypatch, tmp_path):
    monkeypatch.setenv("JWT_SECRET", "unit-test-secret-0123456789-0123456789")
    monkeypatch.setenv("AUTH_DEV", "1")
    monkeypatch.chdir(tmp_path)  # settings defaults that name local directories stay out of the worktree
    app = importlib.import_module(f"services.{service}.app").create_app()
    assert any(m.cls is RequestTelemetry for m in app.user_middleware), service
