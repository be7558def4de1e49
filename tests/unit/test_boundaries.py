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
