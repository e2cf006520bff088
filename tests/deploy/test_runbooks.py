"""Every alert links a runbook that exists (docs/runbooks/<alert>.md) and says what operators need:
symptom, impact, diagnosis commands, remedy — in the compose rules and in the rendered PrometheusRules."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from deploy import generate
from deploy.kustomize import render

ROOT = Path(__file__).resolve().parents[2]
RUNBOOKS = ROOT / "docs" / "runbooks"
BASE = "https://github.com/carecircle/carecircle/blob/main/docs/runbooks/"
RULE_SOURCES = [generate.ALERTS_FILE, generate.OPERATOR_ALERTS_FILE]


def _rules(groups: list[dict]) -> list[dict]:
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def _source_rules() -> list[dict]:
    return [r for source in RULE_SOURCES for r in _rules(yaml.safe_load(source.read_text("utf-8"))["groups"])]


def _runbook_of(rule: dict) -> Path:
    url = rule["annotations"].get("runbook_url", "")
    assert url.startswith(BASE), f"{rule['alert']}: runbook_url {url!r} does not start with {BASE}"
    return RUNBOOKS / url.removeprefix(BASE)


def test_every_alert_has_a_runbook_url_whose_file_exists():
    rules = _source_rules()
    assert len(rules) >= 20
    for rule in rules:
        path = _runbook_of(rule)
        assert path.name == f"{rule['alert']}.md", rule["alert"]
        assert path.is_file(), f"{rule['alert']}: {path.relative_to(ROOT)} missing"


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_every_alert_in_the_rendered_prometheus_rules_has_its_runbook(overlay):
    resources = render(ROOT / "deploy" / "k8s" / "overlays" / overlay)
    rules = [r for res in resources if res["kind"] == "PrometheusRule" for r in _rules(res["spec"]["groups"])]
    assert {r["alert"] for r in rules} == {r["alert"] for r in _source_rules()}
    for rule in rules:
        assert _runbook_of(rule).is_file(), rule["alert"]


def test_each_runbook_says_symptom_impact_diagnosis_and_remedy_and_is_indexed():
    index = (RUNBOOKS / "README.md").read_text("utf-8")
    for rule in _source_rules():
        text = _runbook_of(rule).read_text("utf-8")
        assert text.startswith(f"# {rule['alert']}\n"), rule["alert"]
        for section in ("**Symptom.**", "**Impact.**", "**Remedy.**"):
            assert section in text, f"{rule['alert']}: no {section}"
        assert "**Diagnosis.**" in text and "```" in text or "As for" in text, f"{rule['alert']}: no diagnosis commands"
        assert f"[{rule['alert']}.md]({rule['alert']}.md)" in index, f"{rule['alert']} not in docs/runbooks/README.md"


def test_an_alert_without_a_runbook_fails(tmp_path, monkeypatch):
    broken = yaml.safe_load(generate.ALERTS_FILE.read_text("utf-8"))
    broken["groups"][0]["rules"][0]["annotations"]["runbook_url"] = BASE + "NoSuchAlert.md"
    path = tmp_path / "alerts.yml"
    path.write_text(yaml.safe_dump(broken))
    monkeypatch.setattr(generate, "ALERTS_FILE", path)
    with pytest.raises(AssertionError):
        for rule in _rules(broken["groups"]):
            assert _runbook_of(rule).name == f"{rule['alert']}.md" and _runbook_of(rule).is_file()
