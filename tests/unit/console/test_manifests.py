"""deploy/components/console: rendered with the base, the console is hardened, probed,
valid for every supported Kubernetes version, and reachable only through its Ingress."""

from __future__ import annotations

import os
import subprocess
from functools import cache
from pathlib import Path

import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml  # type: ignore[import-untyped,unused-ignore]

from tests.unit.test_deploy_manifests import DEPLOY, Doc, _pod_spec, kubectl
from tests.unit.test_deploy_schemas import schema_problems, supported_versions, workload_problems


@cache
def _rendered(tmp: str) -> tuple[Doc, ...]:
    root = Path(tmp)
    (root / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "resources": [os.path.relpath(DEPLOY / "base", root)],
                "components": [os.path.relpath(DEPLOY / "components/console", root)],
            }
        )
    )
    out = subprocess.run(
        [kubectl(), "kustomize", str(root)], check=True, capture_output=True, text=True, timeout=120
    ).stdout
    return tuple(d for d in yaml.safe_load_all(out) if d is not None)


@pytest.fixture(scope="module")
def docs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Doc, ...]:
    """Base + the console component, as kubectl kustomize renders them."""
    return _rendered(str(tmp_path_factory.mktemp("console-kustomize")))


def _one(docs: tuple[Doc, ...], kind: str, name: str) -> Doc:
    (found,) = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    return found


def test_console_deployment_is_hardened_and_probed(docs: tuple[Doc, ...]) -> None:
    dep = _one(docs, "Deployment", "triage-console")
    assert workload_problems(dep) == []
    (c,) = _pod_spec(dep)["containers"]
    assert c["command"] == ["python", "-m", "services.console"]
    assert {p["name"]: p["containerPort"] for p in c["ports"]} == {"http": 8080}
    env = {e["name"]: e for e in c["env"]}
    assert env["TRIAGE_CONSOLE_SESSION_KEY"]["valueFrom"]["secretKeyRef"]["name"] == (
        "triage-console"
    )
    for name in ("ingest", "rules", "tickets", "sla", "notify"):
        assert env[f"TRIAGE_PEERS__{name.upper()}"]["value"] == f"triage-{name}:50051"
    assert "envFrom" not in c, "the console needs neither the services' config nor secrets"


def test_console_is_scaled_and_budgeted(docs: tuple[Doc, ...]) -> None:
    hpa = _one(docs, "HorizontalPodAutoscaler", "triage-console")
    assert hpa["spec"]["scaleTargetRef"]["name"] == "triage-console"
    assert hpa["spec"]["minReplicas"] >= 2
    assert "replicas" not in _one(docs, "Deployment", "triage-console")["spec"]
    assert _one(docs, "PodDisruptionBudget", "triage-console")["spec"]["maxUnavailable"] == 1


def test_console_ingress_and_network_policy(docs: tuple[Doc, ...]) -> None:
    ingress = _one(docs, "Ingress", "triage-console")
    (rule,) = ingress["spec"]["rules"]
    (path,) = rule["http"]["paths"]
    assert path["backend"]["service"] == {"name": "triage-console", "port": {"name": "http"}}
    assert ingress["spec"]["tls"], "sessions need HTTPS"
    policy = _one(docs, "NetworkPolicy", "allow-console-ingress")
    labels = _pod_spec(_one(docs, "Deployment", "triage-console"))
    pod_labels = _one(docs, "Deployment", "triage-console")["spec"]["template"]["metadata"]
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= pod_labels["labels"].items()
    assert {p["port"] for r in policy["spec"]["ingress"] for p in r["ports"]} == {8080}
    assert labels["automountServiceAccountToken"] is False
    # The webhook Ingress still exposes the webhooks only.
    hooks = [
        d for d in docs if d["kind"] == "Ingress" and d["metadata"]["name"] != "triage-console"
    ]
    assert hooks == []  # components/ingress is not in this render


def test_console_manifests_match_kubernetes_schemas(
    docs: tuple[Doc, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        kubernetes_validate.utils,
        "schema_contents",
        cache(kubernetes_validate.utils.schema_contents),
    )
    console = [d for d in docs if "console" in d["metadata"]["name"]]
    assert len(console) == 7
    problems = [p for v in supported_versions() for p in schema_problems(console, v)]
    assert problems == []
