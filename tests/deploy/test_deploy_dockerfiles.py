"""The service image: ONE deploy/docker/Dockerfile for the four services (build argument SERVICE), a slim
Python 3.11 base pinned to a patch release, the service's hashed lock, non-root user, HEALTHCHECK on /healthz,
every service listening on 0.0.0.0. Compose builds each service from it with its own SERVICE."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from deploy.policy import DOCKERFILE, SERVICES, check_compose, check_dockerfile

ROOT = Path(__file__).resolve().parents[2]


def test_the_dockerfile_passes_the_image_policy():
    text = DOCKERFILE.read_text()
    assert check_dockerfile(text) == []
    assert "COPY deploy/docker/requirements/" in text and (ROOT / "deploy" / "docker" / "requirements").is_dir()
    assert not list(ROOT.glob("services/*/Dockerfile")), "one Dockerfile for every service"


@pytest.mark.parametrize(
    ("edit", "error"),
    [
        (lambda t: t.replace("USER 10001:10001\n", ""), "no USER: the container would run as root"),
        (lambda t: t.replace("USER 10001:10001", "USER root"), "the last USER is root"),
        (lambda t: t.split("HEALTHCHECK")[0] + 'CMD ["python", "-m", "services.${SERVICE}"]\n',
         "no HEALTHCHECK on /healthz"),
        (lambda t: t.replace("ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm", "ARG PYTHON_IMAGE=python:3.11-slim"),
         "base image python:3.11-slim is not python:3.11.<patch>-slim*"),
        (lambda t: t.replace("--require-hashes", ""), "dependencies are not installed with --require-hashes"),
        (lambda t: t.replace("INGEST_HOST=0.0.0.0", "INGEST_HOST=127.0.0.1"), "ENV INGEST_HOST=0.0.0.0 missing"),
        (lambda t: t.replace("EXPOSE 8001 ", "EXPOSE "), "does not EXPOSE 8001"),
        (lambda t: t.replace("ARG SERVICE\n", ""), "no ARG SERVICE"),
    ],
    ids=["no-user", "root-user", "no-healthcheck", "unpinned-base", "no-hashes", "loopback", "wrong-port", "no-arg"],
)
def test_broken_dockerfile_refused(edit, error):
    errors = check_dockerfile(edit(DOCKERFILE.read_text()))
    assert any(e.startswith(error) for e in errors), errors


def test_a_digest_pinned_base_is_accepted():
    pinned = "ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm@sha256:" + "a" * 64
    text = DOCKERFILE.read_text().replace("ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm", pinned)
    assert check_dockerfile(text) == []


def test_compose_builds_each_service_from_the_one_dockerfile():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    for name in SERVICES:
        assert compose["services"][name]["build"]["args"]["SERVICE"] == name
    compose["services"]["survey"]["build"]["args"]["SERVICE"] = "notifier"
    assert "service survey: build must use deploy/docker/Dockerfile with args SERVICE: survey" in check_compose(compose)


def test_build_context_leaves_out_the_venv_and_git():
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", "**/tests"} <= set(ignored)
