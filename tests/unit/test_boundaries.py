"""Import boundaries: the pure core imports no Azure SDK, and only gateways and clients do."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

LIFECYCLE = Path(__file__).resolve().parents[2] / "lifecycle"
PURE = [
    "model.py",
    "regions.py",
    "policy.py",
    "actions.py",
    "tags.py",
    "state.py",
    "notifications.py",
    "planning",
    "pricing",
    "report",
]
# Only these may import Azure SDKs (azure.functions, the host binding library, is allowed anywhere).
SDK_ALLOWED = {"gateways", "clients.py"}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def files(entry: str) -> list[Path]:
    path = LIFECYCLE / entry
    return sorted(path.rglob("*.py")) if path.is_dir() else [path]


@pytest.mark.parametrize("entry", PURE)
def test_pure_core_imports_nothing_from_azure_nor_gateways(entry: str) -> None:
    for path in files(entry):
        bad = {
            m
            for m in imported_modules(path)
            if m.startswith(("azure", "lifecycle.gateways", "lifecycle.reconcile"))
        }
        assert not bad, f"{path.relative_to(LIFECYCLE.parent)} imports {sorted(bad)}"


def test_only_gateways_and_clients_import_azure_sdks() -> None:
    for path in sorted(LIFECYCLE.rglob("*.py")):
        relative = path.relative_to(LIFECYCLE)
        if relative.parts[0] in SDK_ALLOWED:
            continue
        sdk = {m for m in imported_modules(path) if m.startswith("azure.") and m != "azure.functions"}
        assert not sdk, f"{relative} imports {sorted(sdk)}: Azure SDKs belong in lifecycle/gateways"


def test_deployable_package_never_imports_emulator_tests_bench_or_demo() -> None:
    for path in sorted(LIFECYCLE.rglob("*.py")):
        outside = {
            m for m in imported_modules(path) if m.split(".")[0] in {"emulator", "tests", "bench", "demo"}
        }
        assert not outside, f"{path.relative_to(LIFECYCLE.parent)} imports {sorted(outside)}"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(LIFECYCLE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def test_lifecycle_modules_import_each_other_without_cycles() -> None:
    """A cycle (as cli and demo once had) means two modules own one thing; the graph must be a DAG."""
    graph: dict[str, set[str]] = {}
    for path in sorted(LIFECYCLE.rglob("*.py")):
        graph[_module_name(path)] = {m for m in imported_modules(path) if m.startswith("lifecycle")}
    for module in graph:
        graph[module] = {m for m in graph[module] if m in graph and m != module}

    state: dict[str, int] = {}

    def visit(module: str, trail: list[str]) -> None:
        state[module] = 1
        for nxt in sorted(graph[module]):
            if state.get(nxt) == 1:
                cycle = [*trail[trail.index(nxt) :], nxt] if nxt in trail else [module, nxt]
                raise AssertionError(f"import cycle: {' -> '.join(cycle)}")
            if nxt not in state:
                visit(nxt, [*trail, nxt])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])


def test_one_images_unit_does_not_know_its_trigger_or_the_run() -> None:
    """The image's phases are run the same way by a sweep, an event, a queue message and the CLI."""
    for path in [LIFECYCLE / "reconcile" / "image.py", *files("reconcile/phases")]:
        imports = imported_modules(path)
        known = {
            m for m in imports if m in {"lifecycle.triggers", "lifecycle.cli", "lifecycle.reconcile.run"}
        }
        assert not known, f"{path.relative_to(LIFECYCLE.parent)} imports {sorted(known)}"
