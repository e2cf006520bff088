"""Service images: one Dockerfile per service on a slim Python 3.11 base, dependencies from the single
pyproject pinned by deploy/docker/constraints.txt, non-root user, HEALTHCHECK on /healthz, listening on 0.0.0.0."""

from __future__ import annotations

from pathlib import Path

import pytest

from deploy.policy import SERVICES, check_dockerfile

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", list(SERVICES))
def test_service_dockerfile_passes_the_image_policy(name):
    text = (ROOT / "services" / name / "Dockerfile").read_text()
    assert check_dockerfile(text, name, SERVICES[name][0]) == []
    for copied in ("pyproject.toml", "deploy/docker/constraints.txt", "contracts", "services"):
        assert copied in text
        assert (ROOT / copied).exists()


@pytest.mark.parametrize(
    ("edit", "error"),
    [
        (lambda t: t.replace("USER 10001:10001\n", ""), "no USER: the container would run as root"),
        (lambda t: t.replace("USER 10001:10001", "USER root"), "the last USER is root"),
        (lambda t: t.split("HEALTHCHECK")[0] + 'CMD ["python", "-m", "services.ingest"]\n', "no HEALTHCHECK on /healthz"),
        (lambda t: t.replace("python:3.11-slim-bookworm", "python:3.12"), "base image python:3.12 is not python:3.11-slim*"),
        (lambda t: t.replace("--constraint constraints.txt", ""), "dependencies are not installed with --constraint"),
        (lambda t: t.replace("INGEST_HOST=0.0.0.0", "INGEST_HOST=127.0.0.1"), "ENV INGEST_HOST=0.0.0.0 missing"),
        (lambda t: t.replace("EXPOSE 8001", "EXPOSE 8080"), "does not EXPOSE 8001"),
    ],
    ids=["no-user", "root-user", "no-healthcheck", "wrong-base", "unpinned", "loopback", "wrong-port"],
)
def test_broken_dockerfile_refused(edit, error):
    text = edit((ROOT / "services" / "ingest" / "Dockerfile").read_text())
    errors = check_dockerfile(text, "ingest", 8001)
    assert any(e.startswith(error) for e in errors), errors


def test_build_context_leaves_out_the_venv_and_git():
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", "**/tests"} <= set(ignored)
