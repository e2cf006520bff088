"""Render a kustomization without a kustomize binary (the CI machines have none).

Implements the subset of kustomize v5 this repository uses, with kustomize's semantics:
`resources` (files and directories holding a kustomization.yaml), `namespace`, `labels` (metadata labels,
`includeSelectors: false`), `images` (containers/initContainers of workloads) and `patches` (strategic merge
patches from `path` or inline `patch`, applied to the resource of the same kind/name, or to every
resource matched by `target`). Strategic merge: maps merge, `null` deletes a key; lists of built-in kinds
merge by `name` (containers, env, volumes...), lists of custom resources are replaced whole (kustomize
knows no merge keys for CRDs). Any other kustomization field is refused, so the renderer can't silently
ignore something a real kustomize would apply.

    python -m deploy.kustomize deploy/k8s/overlays/prod            # print the rendered YAML
    python -m deploy.kustomize deploy/k8s/overlays/prod --compare  # diff against `kubectl kustomize`
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from .yamlio import dump_all, load_all

SUPPORTED = {"apiVersion", "kind", "resources", "namespace", "labels", "images", "patches", "configMapGenerator",
             "generatorOptions"}
CLUSTER_SCOPED = {
    "Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "PersistentVolume",
    "StorageClass", "PriorityClass", "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration",
}
WORKLOAD_POD_PATHS = {
    "Deployment": ("spec", "template", "spec"), "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"), "ReplicaSet": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"), "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
    "Pod": ("spec",),
}


class KustomizeError(ValueError):
    pass


# API groups under k8s.io that a cluster gets from CRDs, not from the API server itself.
CRD_GROUPS_UNDER_K8S_IO = frozenset({"gateway.networking.k8s.io"})


def is_builtin(api_version: str) -> bool:
    group = api_version.rpartition("/")[0]
    return group == "" or "." not in group or (group.endswith(".k8s.io") and group not in CRD_GROUPS_UNDER_K8S_IO)


def strategic_merge(base: Any, patch: Any, builtin: bool) -> Any:
    if isinstance(base, dict) and isinstance(patch, dict):
        merged = dict(base)
        for key, value in patch.items():
            if value is None:
                merged.pop(key, None)
            elif key in merged:
                merged[key] = strategic_merge(merged[key], value, builtin)
            else:
                merged[key] = copy.deepcopy(value)
        return merged
    if (
        builtin and isinstance(base, list) and isinstance(patch, list)
        and all(isinstance(i, dict) and "name" in i for i in base + patch)
    ):
        merged_list = [copy.deepcopy(i) for i in base]
        index = {item["name"]: n for n, item in enumerate(merged_list)}
        for item in patch:
            if item["name"] in index:
                merged_list[index[item["name"]]] = strategic_merge(merged_list[index[item["name"]]], item, builtin)
            else:
                merged_list.append(copy.deepcopy(item))
        return merged_list
    return copy.deepcopy(patch)


def _matches(resource: dict, target: dict) -> bool:
    unknown = set(target) - {"kind", "name", "group", "version"}
    if unknown:
        raise KustomizeError(f"patch target selector fields not supported: {sorted(unknown)}")
    group, _, version = resource["apiVersion"].rpartition("/")
    checks = {"kind": resource["kind"], "name": resource["metadata"]["name"], "group": group, "version": version}
    return all(checks[key] == value for key, value in target.items())


def _apply_patch(resources: list[dict], patch: dict, target: dict | None, source: str) -> None:
    body = copy.deepcopy(patch)
    if target is None:
        target = {"kind": patch["kind"], "name": patch["metadata"]["name"]}
    else:
        body.get("metadata", {}).pop("name", None)  # with a target, kustomize ignores the patch's own name
    hits = [r for r in resources if _matches(r, target)]
    if not hits:
        raise KustomizeError(f"patch {source} matches no resource ({target})")
    for resource in hits:
        name = resource["metadata"]["name"]
        merged = strategic_merge(resource, body, is_builtin(resource["apiVersion"]))
        merged["metadata"]["name"] = name
        resource.clear()
        resource.update(merged)


def _set_images(resource: dict, images: list[dict]) -> None:
    path = WORKLOAD_POD_PATHS.get(resource["kind"])
    if path is None:
        return
    pod: Any = resource
    for key in path:
        pod = pod.get(key) if isinstance(pod, dict) else None
        if pod is None:
            return
    for container in pod.get("containers", []) + pod.get("initContainers", []):
        image = container.get("image", "")
        name, tag = (image.rsplit(":", 1) + [""])[:2] if ":" in image.rsplit("/", 1)[-1] else (image, "")
        for rule in images:
            if rule["name"] == name:
                new_name = rule.get("newName", name)
                new_tag = rule.get("newTag", tag)
                container["image"] = f"{new_name}:{new_tag}" if new_tag else new_name


def _generated_config_maps(directory: Path, kustomization: dict) -> list[dict]:
    """`configMapGenerator` from `files` (key = file name, or `key=path`) and `literals`, with
    `generatorOptions` labels/annotations. Only without the name hash (`disableNameSuffixHash: true`)."""
    generators = kustomization.get("configMapGenerator", [])
    options = kustomization.get("generatorOptions", {})
    if generators and options.get("disableNameSuffixHash") is not True:
        raise KustomizeError(f"{directory}: configMapGenerator needs generatorOptions.disableNameSuffixHash: true "
                             "here (this renderer does not compute kustomize's name hash)")
    maps = []
    for generator in generators:
        unknown = set(generator) - {"name", "files", "literals"}
        if unknown:
            raise KustomizeError(f"{directory}: configMapGenerator fields not supported: {sorted(unknown)}")
        data: dict[str, str] = {}
        for entry in generator.get("files", []):
            key, _, path = entry.rpartition("=") if "=" in entry else (Path(entry).name, "", entry)
            source = (directory / path).resolve()
            if not source.is_relative_to(directory.resolve()):
                raise KustomizeError(f"{directory}: {entry} is outside the kustomization directory")
            data[key] = source.read_text("utf-8")
        for literal in generator.get("literals", []):
            key, _, value = literal.partition("=")
            data[key] = value
        metadata: dict[str, Any] = {"name": generator["name"]}
        if options.get("annotations"):
            metadata["annotations"] = dict(options["annotations"])
        if options.get("labels"):
            metadata["labels"] = dict(options["labels"])
        maps.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": data})
    return maps


def render(directory: Path) -> list[dict[str, Any]]:
    directory = Path(directory)
    kustomization_file = directory / "kustomization.yaml"
    if not kustomization_file.exists():
        raise KustomizeError(f"{directory} has no kustomization.yaml")
    kustomization = yaml.safe_load(kustomization_file.read_text("utf-8")) or {}
    unsupported = set(kustomization) - SUPPORTED
    if unsupported:
        raise KustomizeError(f"{kustomization_file}: fields not supported by this renderer: {sorted(unsupported)}")

    resources: list[dict] = []
    resources += _generated_config_maps(directory, kustomization)
    for entry in kustomization.get("resources", []):
        path = (directory / entry).resolve()
        if path.is_dir():
            resources.extend(render(path))
        elif path.is_file():
            resources.extend(load_all(path))
        else:
            raise KustomizeError(f"{kustomization_file}: resource {entry} not found")
    seen: set[tuple[str, str, str]] = set()
    for resource in resources:
        key = (resource["kind"], resource["metadata"].get("namespace", ""), resource["metadata"]["name"])
        if key in seen:
            raise KustomizeError(f"{directory}: duplicate resource {key}")
        seen.add(key)

    for entry in kustomization.get("patches", []):
        target = entry.get("target")
        if "path" in entry:
            patches = load_all(directory / entry["path"])
            source = entry["path"]
        else:
            patches = [doc for doc in yaml.safe_load_all(entry["patch"]) if doc]
            source = "inline patch"
        for patch in patches:
            if isinstance(patch, list):
                raise KustomizeError(f"{source}: JSON 6902 patches are not supported by this renderer")
            _apply_patch(resources, patch, target, source)

    for pairs in kustomization.get("labels", []):
        if pairs.get("includeSelectors") or pairs.get("includeTemplates"):
            raise KustomizeError("labels with includeSelectors/includeTemplates are not supported")
        for resource in resources:
            resource["metadata"].setdefault("labels", {}).update(pairs["pairs"])

    if images := kustomization.get("images"):
        for resource in resources:
            _set_images(resource, images)

    if namespace := kustomization.get("namespace"):
        for resource in resources:
            if resource["kind"] not in CLUSTER_SCOPED:
                resource["metadata"]["namespace"] = namespace
    return resources


def _canonical(documents: list[dict]) -> list[str]:
    return sorted(json.dumps(doc, sort_keys=True) for doc in documents)


def compare_with_kubectl(directory: Path) -> list[str]:
    """Differences between this renderer and `kubectl kustomize` (empty list: identical)."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        raise RuntimeError("kubectl is not installed")
    output = subprocess.run([kubectl, "kustomize", str(directory)], check=True, capture_output=True, text=True)
    theirs = set(_canonical([d for d in yaml.safe_load_all(output.stdout) if d]))
    ours = set(_canonical(render(directory)))
    return [f"only kubectl: {d}" for d in sorted(theirs - ours)] + [f"only ours: {d}" for d in sorted(ours - theirs)]


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    directory = Path(argv[0])
    if "--compare" in argv[1:]:
        differences = compare_with_kubectl(directory)
        print("\n".join(differences) or f"{directory}: identical to `kubectl kustomize`")
        return 1 if differences else 0
    sys.stdout.write(dump_all(render(directory)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
