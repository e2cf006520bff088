"""yamllint over docker-compose.yml and every YAML file under deploy/ (config deploy/yamllint.yaml)."""

from __future__ import annotations

from pathlib import Path

from yamllint import config, linter

ROOT = Path(__file__).resolve().parents[2]
CONFIG = config.YamlLintConfig(file=str(ROOT / "deploy" / "yamllint.yaml"))


def _problems(text: str, path: str = "x.yaml") -> list[str]:
    return [f"{path}:{p.line}: {p.message}" for p in linter.run(text, CONFIG, path) if p.level == "error"]


def test_deployment_yaml_is_lint_clean():
    files = [ROOT / "docker-compose.yml", *sorted((ROOT / "deploy").rglob("*.y*ml"))]
    assert len(files) > 20
    problems = [p for f in files for p in _problems(f.read_text(), str(f.relative_to(ROOT)))]
    assert problems == []


def test_broken_yaml_refused():
    assert any("duplication of key" in p for p in _problems("a: 1\nb: 2\na: 3\n"))
    assert any("syntax error" in p for p in _problems("a:\n  - b\n c: d\n"))
    assert any("line too long" in p for p in _problems("a: " + "x" * 130 + "\n"))
