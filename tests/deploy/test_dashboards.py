"""Grafana dashboards: every panel states its unit, the freshness and lag panels exist, and every dashboard
ships to Kubernetes as a ConfigMap labelled for the Grafana sidecar (kustomize configMapGenerator)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deploy.kustomize import render

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = sorted((ROOT / "deploy" / "grafana" / "dashboards").glob("*.json"))
WITHOUT_DATA = {"row", "text", "news", "dashlist"}  # panels that plot nothing need no unit


def _panels(dashboard: dict) -> list[dict]:
    out = []
    for panel in dashboard.get("panels", []):
        out.append(panel)
        out += panel.get("panels", [])  # panels inside a collapsed row
    return out


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_every_panel_states_its_unit(path):
    panels = [p for p in _panels(json.loads(path.read_text("utf-8"))) if p.get("type") not in WITHOUT_DATA]
    assert panels
    missing = [p.get("title") for p in panels if not (p.get("fieldConfig") or {}).get("defaults", {}).get("unit")]
    assert missing == [], f"{path.name}: panels without a unit: {missing}"


def test_service_health_shows_freshness_lag_and_latency_per_route():
    dashboard = json.loads((ROOT / "deploy/grafana/dashboards/carecircle-service-health.json").read_text("utf-8"))
    by_title = {p["title"]: p for p in dashboard["panels"]}
    exprs = {title: " ".join(t["expr"] for t in p["targets"]) for title, p in by_title.items()}
    assert "metrics_sink_seconds_since_write" in exprs["Data freshness"]
    assert "metrics_clock_tick_age_seconds" in exprs["Data freshness"]
    assert by_title["Data freshness"]["fieldConfig"]["defaults"]["unit"] == "s"
    assert "metrics_sink_lag_records" in exprs["ClickHouse sink: records behind the log"]
    assert "route" in exprs["HTTP p99 by route"] and by_title["HTTP p99 by route"]["fieldConfig"]["defaults"]["unit"] == "s"


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_dashboards_ship_as_config_maps_for_the_grafana_sidecar(overlay):
    resources = render(ROOT / "deploy" / "k8s" / "overlays" / overlay)
    maps = [r for r in resources if r["kind"] == "ConfigMap"
            and r["metadata"].get("labels", {}).get("grafana_dashboard") == "1"]
    shipped = {key: value for m in maps for key, value in m["data"].items()}
    assert set(shipped) == {p.name for p in DASHBOARDS}
    for path in DASHBOARDS:
        assert shipped[path.name] == path.read_text("utf-8"), f"{path.name} differs from the ConfigMap"
    assert all(m["metadata"]["annotations"]["grafana_folder"] == "CareCircle" for m in maps)
