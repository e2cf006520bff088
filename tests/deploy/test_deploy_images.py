"""What the service images install is enough to run the services: every third-party import of service code
is provided by a runtime dependency of pyproject.toml (the images do not install the dev extras)."""

from __future__ import annotations

from deploy import lock


def test_service_code_imports_only_runtime_dependencies():
    missing = lock.missing_runtime_imports()
    assert missing == [], "move these to [project] dependencies (images skip dev extras), then `python -m deploy.lock`"


def test_a_dev_only_import_is_caught(tmp_path, monkeypatch):
    package = tmp_path / "services" / "fake"
    package.mkdir(parents=True)
    (package / "mailer.py").write_text("import hypothesis\nimport json\nfrom services.common import web\n")
    (package / "tests").mkdir()
    (package / "tests" / "test_x.py").write_text("import aiosmtpd\n")  # tests may use dev dependencies
    monkeypatch.setattr(lock, "ROOT", tmp_path)
    monkeypatch.setattr(lock, "PYPROJECT", lock.PYPROJECT)  # the real dependency list
    assert lock.missing_runtime_imports(("services",)) == ["services/fake/mailer.py:1 imports hypothesis (hypothesis)"]
