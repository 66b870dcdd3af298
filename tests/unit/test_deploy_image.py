"""Issue 16: the image the Dockerfile builds agrees with the manifests that run it.

What a cluster relies on without reading the Dockerfile: the user the pods run as, the
ports they declare, the command they give, and a build that copies no secrets or dev
state. Building and running the image is `make image-test` (tests/image/smoke.py); its
database URL rewrite is checked here.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.image.smoke import tcp_url
from tests.unit.test_deploy_manifests import (
    ROOT,
    SERVICES,
    Doc,
    _containers,
    _pod_spec,
    _render,
    _workloads,
)

DOCKERFILE = ROOT / "Dockerfile"


def _instructions(path: Path = DOCKERFILE) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per instruction, continuation lines joined."""
    text = re.sub(r"\\\n", " ", path.read_text())
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            found.append((keyword.upper(), rest.strip()))
    return found


def _final_stage() -> list[tuple[str, str]]:
    steps = _instructions()
    last_from = max(i for i, (k, _) in enumerate(steps) if k == "FROM")
    return steps[last_from:]


def _triage_pods() -> list[Doc]:
    return [
        _pod_spec(w)
        for w in _workloads(_render("overlays/prod"))
        if w["metadata"]["name"].startswith("triage-")
    ]


def test_image_user_is_the_manifests_user() -> None:
    users = [rest for k, rest in _final_stage() if k == "USER"]
    assert users, "the runtime stage must switch to a non-root user"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit() and int(uid) != 0, "numeric, so runAsNonRoot can verify it"
    for pod in _triage_pods():
        context = pod["securityContext"]
        assert (str(context["runAsUser"]), str(context["runAsGroup"])) == (uid, gid)


def test_image_exposes_the_manifests_ports() -> None:
    exposed = {int(p) for k, rest in _final_stage() if k == "EXPOSE" for p in rest.split()}
    declared = {
        port["containerPort"]
        for pod in _triage_pods()
        for c in _containers(pod)
        for port in c.get("ports", [])
    }
    assert declared == exposed


def test_manifest_commands_run_the_image_entrypoint() -> None:
    stage = dict(_final_stage())
    assert stage["ENTRYPOINT"] == '["python", "-m"]'
    assert stage["STOPSIGNAL"] == "SIGTERM"
    commands = {tuple(c["command"]) for pod in _triage_pods() for c in _containers(pod)}
    expected = {("python", "-m", f"services.{s}") for s in SERVICES}
    assert expected <= commands
    assert commands - expected == {("python", "-m", f"services.{s}", "migrate") for s in SERVICES}


def test_base_image_is_a_build_argument_and_labels_carry_the_build() -> None:
    steps = _instructions()
    assert steps[0][0] == "ARG" and steps[0][1].startswith("BASE_IMAGE=")
    assert [rest for k, rest in steps if k == "FROM"] == ["${BASE_IMAGE} AS build", "${BASE_IMAGE}"]
    labels = " ".join(rest for k, rest in _final_stage() if k == "LABEL")
    for key, arg in (("source", "SOURCE"), ("version", "VERSION"), ("revision", "REVISION")):
        assert f'org.opencontainers.image.{key}="${{{arg}}}"' in labels


def test_build_context_leaves_out_local_state() -> None:
    lines = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "*", "allow-list: nothing enters the context unless named"
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    assert not allowed & {".data", ".venv", ".git", "tests", "third_party"}
    copied = {
        rest.split()[0].rstrip("/")
        for k, rest in _instructions()
        if k == "COPY" and not rest.startswith("--from")
    }
    assert copied <= allowed


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "postgresql+psycopg://postgres@/triage?host=/tmp/x/postgres&port=5999",
            "postgresql+psycopg://postgres@127.0.0.1:5999/triage",
        ),
        (
            "postgresql+psycopg://app@/triage?host=%2Ftmp%2Fpg&port=5432&sslmode=disable",
            "postgresql+psycopg://app@127.0.0.1:5432/triage?sslmode=disable",
        ),
        ("postgresql+psycopg://u:p@db:5432/triage", "postgresql+psycopg://u:p@db:5432/triage"),
    ],
)
def test_socket_urls_become_loopback_tcp(url: str, expected: str) -> None:
    assert tcp_url(url) == expected


def _lock() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in (ROOT / "deploy/image/constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[canonicalize_name(name)] = version
    return pins


def test_image_lock_keeps_every_pyproject_pin_and_no_dev_tool() -> None:
    """pyproject.toml's pins win: a bump there without `make image-lock` fails here."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lock = _lock()
    for line in project["dependencies"]:
        req = Requirement(line)
        (pin,) = [s.version for s in req.specifier if s.operator == "=="]
        assert lock.get(canonicalize_name(req.name)) == pin, f"{line}: run `make image-lock`"
    dev = {canonicalize_name(Requirement(r).name) for r in project["optional-dependencies"]["dev"]}
    assert not dev & set(lock), "dev extras must not reach the image"
    assert "--constraint constraints.txt" in DOCKERFILE.read_text()
