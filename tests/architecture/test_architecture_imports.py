"""The import rules of docs/services/README.md, checked on the source (no import is executed):

* a service never imports another service: `services.X` may import `services.X`, `services.common` and
  `contracts`, nothing else under `services` (services talk through topics). `services.common` imports no
  service. Test packages (`services/X/tests`) are exempt: an end-to-end test may start two services.
* production code (`services`, `contracts`, outside their test packages) never imports `testsupport`,
  and no image ships it (setuptools packages and the Dockerfiles leave it out).
* role aliases (`Member`, `Staff`, `Admin`, …) are defined once, in services/common/auth.py;
* a service's Prometheus series are declared in its `telemetry.py` (the shared HTTP series in
  `services/common/web.py`), so one file lists what a service exports.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHARED = "common"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module) of every import in the file, relative imports resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            target = ".".join(base + ([node.module] if node.module else []))
            # the imported name may be a module (`from services import survey`), so it counts as one
            found += [(node.lineno, f"{target}.{alias.name}") for alias in node.names]
    return found


def production_files(top: str) -> list[Path]:
    return [p for p in sorted((ROOT / top).rglob("*.py")) if "tests" not in p.relative_to(ROOT).parts]


def service_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "services" else None


def cross_service_imports(files: list[Path]) -> list[str]:
    bad = []
    for path in files:
        own = service_of(module_name(path))
        for line, target in imported_modules(path):
            other = service_of(target)
            if own and other and other != own and other != SHARED:
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {target}")
    return bad


def test_no_service_imports_another():
    assert cross_service_imports(production_files("services")) == []


def test_production_code_never_imports_test_support():
    bad = [f"{path.relative_to(ROOT)}:{line} imports {target}"
           for top in ("services", "contracts") for path in production_files(top)
           for line, target in imported_modules(path) if target.split(".")[0] == "testsupport"]
    assert bad == []


def test_prometheus_series_are_declared_in_telemetry_modules():
    allowed = {"telemetry.py", "web.py"}
    bad = [f"{path.relative_to(ROOT)}:{line}" for path in production_files("services") if path.name not in allowed
           for line, target in imported_modules(path) if target.split(".")[0] == "prometheus_client"]
    assert bad == []


def test_role_aliases_are_defined_once_in_common_auth():
    """`Member`, `Staff`, `Admin` (and any other role alias) live in services/common/auth.py only."""
    alias = re.compile(r"^\w+\s*=\s*Annotated\[Principal,\s*Depends\(require_role\(", re.M)
    bad = [str(path.relative_to(ROOT)) for path in production_files("services")
           if path != ROOT / "services" / "common" / "auth.py" and alias.search(path.read_text(encoding="utf-8"))]
    assert bad == []


def test_images_do_not_ship_test_support():
    find = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    assert "testsupport*" not in find["include"] and "testsupport*" in find.get("exclude", [])
    for dockerfile in [ROOT / "deploy" / "docker" / "Dockerfile"]:  # the one image definition
        copies = [line for line in dockerfile.read_text().splitlines() if line.startswith("COPY")]
        assert not any("testsupport" in line or line.split()[1] == "." for line in copies), dockerfile
    assert "testsupport" in (ROOT / ".dockerignore").read_text().split()


def test_the_checker_sees_every_import_form(tmp_path, monkeypatch):
    """The rule itself: absolute, `from services import x` and relative imports all count."""
    package = tmp_path / "services" / "alpha"
    package.mkdir(parents=True)
    (package / "bad.py").write_text("import services.beta.app\nfrom services import gamma\n"
                                    "from ..delta import rules\nfrom services.common import auth\n"
                                    "from . import state\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    found = cross_service_imports([package / "bad.py"])
    assert found == ["services/alpha/bad.py:1 imports services.beta.app",
                     "services/alpha/bad.py:2 imports services.gamma",
                     "services/alpha/bad.py:3 imports services.delta.rules"]
