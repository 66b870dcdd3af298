"""Every service has the shape docs/SERVICE_GUIDE.md describes.

Each check names the service (``-k tickets``) and says which file breaks the shape, so a
newcomer can trust that a name tells where a behaviour lives.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("ingest", "rules", "tickets", "sla", "notify")
ROOMS = {
    "__init__",
    "__main__",
    "wiring",
    "api",
    "convert",
    "service",
    "domain",
    "store",
    "events",
    "workers",
    "errors",
    "models",
    "migrations",
}
OPTIONAL_ROOMS = {"gateway", "clients"}
#: Rooms that may import generated protobuf code.
PROTO_ROOMS = {"api", "convert", "events", "wiring", "clients"}
#: Rooms that may build SQL.
SQL_ROOMS = {"store", "models", "migrations"}
MAX_LINES = 500
SQL_TEXT = re.compile(
    r"^\s*(SELECT\s|INSERT\s+INTO\s|UPDATE\s+\S+\s+SET\s|DELETE\s+FROM\s|WITH\s+\w+\s+AS\s*\()",
    re.IGNORECASE,
)
SQL_BUILDERS = {
    "select",
    "insert",
    "update",
    "delete",
    "text",
    "func",
    "and_",
    "or_",
    "literal",
    "bindparam",
    "case",
    "exists",
    "tuple_",
    "values",
}


def _room(service: str, path: Path) -> str:
    """The room a file of ``service`` belongs to: its first path part under the service."""
    rel = path.relative_to(ROOT / "services" / service)
    return rel.parts[0].removesuffix(".py")


def _files(service: str) -> Iterator[Path]:
    yield from sorted((ROOT / "services" / service).rglob("*.py"))


def _imports(tree: ast.AST) -> Iterator[tuple[str, list[str], int]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module, [a.name for a in node.names], node.lineno
        elif isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, [], node.lineno


def _hand_written(path: Path) -> bool:
    name = path.name
    return not (
        name.endswith(("_pb2.py", "_pb2_grpc.py", "_pb2.pyi")) or "buf/validate" in str(path)
    )


@pytest.mark.parametrize("service", SERVICES)
def test_service_has_the_rooms_and_nothing_else(service: str) -> None:
    """The top of a service is the rooms (plus gateway/clients where they apply)."""
    top = {
        p.name.removesuffix(".py")
        for p in (ROOT / "services" / service).iterdir()
        if p.name != "__pycache__" and (p.suffix == ".py" or p.is_dir())
    }
    assert ROOMS - top == set(), f"{service} lacks rooms {sorted(ROOMS - top)}"
    assert top - ROOMS - OPTIONAL_ROOMS == set(), (
        f"{service} has modules outside the rooms: {sorted(top - ROOMS - OPTIONAL_ROOMS)}"
    )


@pytest.mark.parametrize("service", SERVICES)
def test_sql_only_in_store(service: str) -> None:
    """No SQL text or SQLAlchemy query building outside store/ (models and migrations
    define tables)."""
    found: list[str] = []
    for path in _files(service):
        if _room(service, path) in SQL_ROOMS:
            continue
        tree = ast.parse(path.read_text())
        for module, names, line in _imports(tree):
            if module.startswith("sqlalchemy") and (
                module.startswith(("sqlalchemy.sql", "sqlalchemy.dialects"))
                or set(names) & SQL_BUILDERS
            ):
                found.append(f"{path.relative_to(ROOT)}:{line} imports {module} {names}")
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and SQL_TEXT.match(node.value)
            ):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} has SQL text")
    assert found == [], "\n".join(found)


#: Services whose use cases still import a table themselves (every service reaches its
#: answered requests through ``store/requests.py``'s ``RequestLog``).
TABLES_IN_SERVICE: set[str] = set()


@pytest.mark.parametrize(
    "service",
    [
        pytest.param(
            s,
            marks=pytest.mark.xfail(
                strict=True, reason=f"{s}/service/ imports models.requests; drop {s} when fixed"
            ),
        )
        if s in TABLES_IN_SERVICE
        else s
        for s in SERVICES
    ],
)
def test_use_cases_reach_tables_through_store(service: str) -> None:
    """The service room imports no table: ``models`` is reached through ``store``."""
    found: list[str] = []
    for path in _files(service):
        if _room(service, path) != "service":
            continue
        for module, _names, line in _imports(ast.parse(path.read_text())):
            if module == f"services.{service}.models":
                found.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    assert found == [], "\n".join(found)


#: Rooms that may import the service's ``models``: ``store`` queries the tables,
#: ``migrations`` create them, ``wiring`` hands the outbox, schema and inbox to the runtime
#: and the consumers it builds.
MODELS_ROOMS = {"models", "store", "migrations", "wiring"}
#: Services with a file outside those rooms that still imports ``models`` (drop when fixed).
MODELS_OUTSIDE_ROOMS: dict[str, str] = {}


@pytest.mark.parametrize(
    "service",
    [
        pytest.param(
            s, marks=pytest.mark.xfail(strict=True, reason=f"{s}: {MODELS_OUTSIDE_ROOMS[s]}")
        )
        if s in MODELS_OUTSIDE_ROOMS
        else s
        for s in SERVICES
    ],
)
def test_models_only_in_their_rooms(service: str) -> None:
    """Only store, migrations and wiring import ``models`` (events get their inbox table
    from wiring, as a parameter of the consumers they build)."""
    models = f"services.{service}.models"
    found: list[str] = []
    for path in _files(service):
        if _room(service, path) in MODELS_ROOMS:
            continue
        for module, names, line in _imports(ast.parse(path.read_text())):
            if (
                module == models
                or module.startswith(models + ".")
                or (module == f"services.{service}" and "models" in names)
            ):
                found.append(f"{path.relative_to(ROOT)}:{line} imports {models}")
    assert found == [], "\n".join(found)


@pytest.mark.parametrize("service", SERVICES)
def test_generated_protos_only_at_the_edges(service: str) -> None:
    """Generated protobuf code is imported by api, convert, events, wiring and clients only."""
    found: list[str] = []
    for path in _files(service):
        if _room(service, path) in PROTO_ROOMS:
            continue
        for module, _names, line in _imports(ast.parse(path.read_text())):
            if re.match(r"triage\.\w+\.v1\b", module) or module.startswith("buf.validate"):
                found.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    assert found == [], "\n".join(found)


@pytest.mark.parametrize("service", SERVICES)
def test_services_do_not_import_each_other_or_runtime_internals(service: str) -> None:
    """A service imports no other service, and the runtime only from its public surface."""
    found: list[str] = []
    for path in _files(service):
        for module, names, line in _imports(ast.parse(path.read_text())):
            other = re.match(r"services\.(\w+)", module)
            if other and other.group(1) != service:
                found.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
            if module.startswith("triage.runtime."):
                found.append(f"{path.relative_to(ROOT)}:{line} imports runtime internals {module}")
            if module == "triage.runtime":
                import triage.runtime as runtime

                missing = [n for n in names if n not in runtime.__all__]
                if missing:
                    found.append(f"{path.relative_to(ROOT)}:{line} imports private {missing}")
    assert found == [], "\n".join(found)


@pytest.mark.parametrize("service", SERVICES)
def test_no_bench_code_inside_services(service: str) -> None:
    """Benchmarks live under bench/, not in the code that ships."""
    found = [str(p.relative_to(ROOT)) for p in _files(service) if "bench" in p.stem]
    assert found == []


def test_no_hand_written_file_over_500_lines() -> None:
    """Small modules with one job: no hand-written Python file passes 500 lines."""
    long: list[str] = []
    for top in ("services", "triage", "tests", "bench", "tools"):
        for path in sorted((ROOT / top).rglob("*.py")):
            if _hand_written(path):
                lines = len(path.read_text().splitlines())
                if lines > MAX_LINES:
                    long.append(f"{path.relative_to(ROOT)}: {lines}")
    assert long == [], "\n".join(long)


def test_runtime_names_no_service_and_no_transport_in_errors() -> None:
    """The runtime knows no service by name, and its errors carry no gRPC type."""
    found: list[str] = []
    for path in sorted((ROOT / "triage" / "runtime").rglob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and node.value in SERVICES:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} names {node.value!r}")
        for module, _names, line in _imports(tree):
            if module.startswith("services"):
                found.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    errors = ast.parse((ROOT / "triage" / "runtime" / "errors.py").read_text())
    for module, _names, line in _imports(errors):
        if module.startswith(("grpc", "google.rpc")):
            found.append(f"triage/runtime/errors.py:{line} imports {module}")
    for service in SERVICES:
        own = ROOT / "services" / service / "errors.py"
        if own.exists():
            for module, _names, line in _imports(ast.parse(own.read_text())):
                if module.startswith("grpc"):
                    found.append(f"services/{service}/errors.py:{line} imports {module}")
    assert found == [], "\n".join(found)
