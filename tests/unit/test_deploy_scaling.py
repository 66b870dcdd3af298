"""Issue 13: every service is safe at N replicas, checked on the rendered manifests.

For base and both overlays (`kubectl kustomize`): every service Deployment has one HPA
(minReplicas >= 2; a consumer's maxReplicas within the partition count) and one PDB
selecting its pods, rolls with maxSurge > 0 and maxUnavailable 0, leaves the replica
count to its HPA, has a terminationGracePeriodSeconds that covers the drain, and every
service sees the same TRIAGE_PARTITIONS. A second test breaks each invariant in turn
and checks the checker names it, so none of them passes vacuously.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.unit.test_deploy_manifests import (
    PRESTOP_SECONDS,
    SERVICES,
    Doc,
    _config_env,
    _pod_spec,
    _render,
)

# Shutdown bounds in triage.runtime (config default; the outbox flush in app.run_service).
DEFAULT_SHUTDOWN_GRACE_SECONDS = 10.0
RELAY_FLUSH_SECONDS = 5
MIN_TERMINATION_GRACE_SECONDS = 30
# Services whose extra replicas only add consumers: capped by the partition count.
CONSUMERS = ("rules", "tickets", "sla", "notify")


def _of_kind(docs: list[Doc], kind: str, prefix: str = "") -> list[Doc]:
    return [d for d in docs if d["kind"] == kind and d["metadata"]["name"].startswith(prefix)]


def _container_env(docs: list[Doc], container: Doc) -> dict[str, Any]:
    """The environment a container sees, as Kubernetes resolves it: envFrom in order
    (a later source wins), then env; a value set from elsewhere maps to its source."""
    maps = {d["metadata"]["name"]: d.get("data", {}) for d in _of_kind(docs, "ConfigMap")}
    env: dict[str, Any] = {}
    for source in container.get("envFrom", []):
        data = maps.get(source.get("configMapRef", {}).get("name"), {})
        env.update({source.get("prefix", "") + k: v for k, v in data.items()})
    env.update({v["name"]: v.get("value", v.get("valueFrom")) for v in container.get("env", [])})
    return env


def _selects(selector: Doc, labels: dict[str, str]) -> bool:
    assert set(selector) == {"matchLabels"}, "selectors here use matchLabels only"
    return bool(selector["matchLabels"].items() <= labels.items())


def _deployment_problems(docs: list[Doc], dep: Doc, partitions: int | None) -> Iterator[str]:
    name, spec, pod = dep["metadata"]["name"], dep["spec"], _pod_spec(dep)
    if "replicas" in spec:
        yield f"{name}: sets replicas, which its HPA owns"
    strategy = spec.get("strategy", {})
    rolling = strategy.get("rollingUpdate", {})
    if strategy.get("type") != "RollingUpdate" or rolling.get("maxUnavailable") not in (0, "0%"):
        yield f"{name}: rolling update must keep maxUnavailable 0"
    if rolling.get("maxSurge") in (None, 0, "0%"):
        yield f"{name}: rolling update needs maxSurge > 0"
    env = _container_env(docs, pod["containers"][0])
    grace = float(env.get("TRIAGE_SHUTDOWN_GRACE_SECONDS", DEFAULT_SHUTDOWN_GRACE_SECONDS))
    drain = PRESTOP_SECONDS + 2 * grace + RELAY_FLUSH_SECONDS
    termination = pod.get("terminationGracePeriodSeconds", 30)
    if termination < max(MIN_TERMINATION_GRACE_SECONDS, drain):
        yield f"{name}: terminationGracePeriodSeconds {termination} < drain {drain}"
    target = {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}
    hpas = [
        h
        for h in _of_kind(docs, "HorizontalPodAutoscaler")
        if h["spec"]["scaleTargetRef"] == target
    ]
    if len(hpas) != 1:
        yield f"{name}: {len(hpas)} HPAs target it, expected 1"
    for hpa in hpas:
        low, high = hpa["spec"].get("minReplicas", 1), hpa["spec"]["maxReplicas"]
        if low < 2 or high < low:
            yield f"{name}: HPA replicas {low}..{high}, expected 2 <= min <= max"
        consumer = name.removeprefix("triage-") in CONSUMERS
        if consumer and partitions is not None and high > partitions:
            yield f"{name}: maxReplicas {high} > {partitions} partitions: idle consumers"
    labels = spec["template"]["metadata"]["labels"]
    pdbs = [
        b for b in _of_kind(docs, "PodDisruptionBudget") if _selects(b["spec"]["selector"], labels)
    ]
    if len(pdbs) != 1:
        yield f"{name}: {len(pdbs)} PDBs select its pods, expected 1"
    for pdb in pdbs:
        if not _selects(pdb["spec"]["selector"], spec["selector"]["matchLabels"]):
            yield f"{name}: PDB selector is not within the Deployment's"
        if pdb["spec"].get("maxUnavailable") in (None, 0, "0%"):
            yield f"{name}: PDB must allow one eviction (maxUnavailable)"


def _scaling_problems(docs: list[Doc]) -> list[str]:
    """Why rendered manifests are not safe to scale out and roll (empty if they are)."""
    deployments = _of_kind(docs, "Deployment", "triage-")
    partitions = {
        d["metadata"]["name"]: _container_env(docs, _pod_spec(d)["containers"][0]).get(
            "TRIAGE_PARTITIONS"
        )
        for d in deployments
    }
    problems: list[str] = []
    values = {str(v) for v in partitions.values()}
    if len(values) != 1 or not all(v.isdigit() and 1 <= int(v) <= 1024 for v in values):
        problems.append(f"TRIAGE_PARTITIONS must be one literal for all services: {partitions}")
    count = int(min(values)) if values and all(v.isdigit() for v in values) else None
    problems += [p for d in deployments for p in _deployment_problems(docs, d, count)]
    if sorted(partitions) != sorted(f"triage-{s}" for s in SERVICES):
        problems.append(f"Deployments {sorted(partitions)}, expected one per service")
    return problems


@pytest.mark.parametrize("kustomization", ["base", "overlays/dev", "overlays/prod"])
def test_every_service_scales_safely(kustomization: str) -> None:
    docs = _render(kustomization)
    problems = _scaling_problems(docs)
    assert not problems, "\n".join(problems)
    (dep,) = _of_kind(docs, "Deployment", "triage-rules")
    env = _container_env(docs, _pod_spec(dep)["containers"][0])
    assert env["TRIAGE_PARTITIONS"] == _config_env()["TRIAGE_PARTITIONS"]


SLA_ENV = "spec/template/spec/containers/0/env/-"
# Each breaks one invariant of the rendered base: (kind, name, path, value or None to
# delete the object, what the report must say).
BREAKAGES: dict[str, tuple[str, str, str, Any, str]] = {
    "partitions differ": ("Deployment", "triage-sla", SLA_ENV,
                          {"name": "TRIAGE_PARTITIONS", "value": "32"}, "TRIAGE_PARTITIONS"),
    "grace beyond termination": ("Deployment", "triage-sla", SLA_ENV,
                                 {"name": "TRIAGE_SHUTDOWN_GRACE_SECONDS", "value": "30"}, "drain"),
    "no HPA": ("HorizontalPodAutoscaler", "triage-rules", "", None, "0 HPAs"),
    "HPA min 1": ("HorizontalPodAutoscaler", "triage-sla", "spec/minReplicas", 1, "2 <= min"),
    "idle consumers": ("HorizontalPodAutoscaler", "triage-tickets", "spec/maxReplicas", 17, "idle"),
    "no PDB": ("PodDisruptionBudget", "triage-notify", "", None, "0 PDBs"),
    "PDB on every pod": ("PodDisruptionBudget", "triage-rules", "spec/selector/matchLabels",
                         {"app.kubernetes.io/component": "server"}, "2 PDBs"),
    "maxUnavailable 1": ("Deployment", "triage-tickets",
                         "spec/strategy/rollingUpdate/maxUnavailable", 1, "maxUnavailable 0"),
    "replicas pinned": ("Deployment", "triage-ingest", "spec/replicas", 3, "HPA owns"),
}  # fmt: skip


@pytest.mark.parametrize("breakage", BREAKAGES)
def test_scaling_check_catches(breakage: str) -> None:
    kind, name, path, value, expected = BREAKAGES[breakage]
    docs = _render("base")
    assert not _scaling_problems(docs)
    (doc,) = [d for d in _of_kind(docs, kind, name) if d["metadata"]["name"] == name]
    if value is None:
        docs.remove(doc)
    else:
        *parents, last = path.split("/")
        node: Any = doc
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        if last == "-":
            node.append(value)
        else:
            node[last] = value
    problems = _scaling_problems(docs)
    assert any(expected in p for p in problems), problems
