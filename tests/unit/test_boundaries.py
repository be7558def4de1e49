"""Import boundaries, read from the AST: the dependency chain `function_app -> triggers -> reconcile ->
(planning, executor) -> gateways -> clients` points one way; the pure core imports no Azure SDK and no
gateway; only gateways and clients import Azure SDKs, and lazily; the deployable package never imports the
emulator, tests, benchmarks or the demo; no module imports another module's private (`_`) name."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LIFECYCLE = ROOT / "lifecycle"
FUNCTION_APP = ROOT / "function_app.py"
PURE = [
    "model.py",
    "regions.py",
    "policy.py",
    "actions.py",
    "changes.py",
    "tags.py",
    "outbox.py",
    "state.py",
    "notifications.py",
    "inventory.py",
    "planning",
    "pricing",
    "report",
]
# What the pure core must not import: Azure SDKs and every layer of the chain that does I/O or runs it.
IMPURE = (
    "azure",
    "lifecycle.gateways",
    "lifecycle.clients",
    "lifecycle.executor",
    "lifecycle.reconcile",
    "lifecycle.triggers",
    "lifecycle.cli",
    "lifecycle.smoke",
)
# The dependency chain, top to bottom (GUIDE.md): a module may import modules of its own layer and of the
# layers below it, never of a layer above. Modules outside the chain (model, policy, actions, budget, ...)
# are the vocabulary every layer shares. Entry points (the CLI, the smoke) sit with the triggers.
CHAIN: list[tuple[str, ...]] = [
    ("function_app",),
    ("lifecycle.triggers", "lifecycle.worker", "lifecycle.cli", "lifecycle.__main__", "lifecycle.smoke"),
    ("lifecycle.reconcile",),
    ("lifecycle.planning", "lifecycle.executor"),
    ("lifecycle.gateways",),
    ("lifecycle.clients",),
]
# Only these may import Azure SDKs (azure.functions, the host binding library, is allowed anywhere).
SDK_ALLOWED = {"gateways", "clients.py"}


def _is_module(name: str) -> bool:
    path = ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, anywhere in it; `from package import module` counts as the module."""
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules = {f"{node.module}.{a.name}" for a in node.names if _is_module(f"{node.module}.{a.name}")}
            names |= modules
            if len(modules) < len(node.names):
                names.add(node.module)
    return names


def sources() -> list[Path]:
    return [FUNCTION_APP, *sorted(LIFECYCLE.rglob("*.py"))]


def files(entry: str) -> list[Path]:
    path = LIFECYCLE / entry
    return sorted(path.rglob("*.py")) if path.is_dir() else [path]


@pytest.mark.parametrize("entry", PURE)
def test_pure_core_imports_nothing_from_azure_nor_gateways(entry: str) -> None:
    for path in files(entry):
        bad = {m for m in imported_modules(path) if _under(m, IMPURE)}
        assert not bad, f"{path.relative_to(LIFECYCLE.parent)} imports {sorted(bad)}"


def _under(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def _sdk(module: str) -> bool:
    """An Azure SDK (azure.functions, the host's binding library, is not one)."""
    return _under(module, ("azure",)) and not _under(module, ("azure.functions",))


def test_the_interfaces_of_the_gateways_are_pure() -> None:
    """`gateways/ports.py` holds the Protocols the engine types its collaborators with: no SDK, and no
    other gateway module, behind them."""
    bad = {
        m
        for m in imported_modules(LIFECYCLE / "gateways" / "ports.py")
        if _sdk(m) or (_under(m, ("lifecycle.gateways",)) and m != "lifecycle.gateways.ports")
    }
    assert not bad, f"lifecycle/gateways/ports.py imports {sorted(bad)}"


def test_only_gateways_and_clients_import_azure_sdks() -> None:
    for path in sources():
        relative = path.relative_to(ROOT)
        if relative.parts[0] == "lifecycle" and relative.parts[1] in SDK_ALLOWED:
            continue
        sdk = {m for m in imported_modules(path) if _sdk(m)}
        assert not sdk, f"{relative} imports {sorted(sdk)}: Azure SDKs belong in lifecycle/gateways"


def _module_level_imports(tree: ast.Module) -> set[str]:
    """Modules imported when the module is (not inside a function, nor under `if TYPE_CHECKING:`)."""
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Try):
            names |= _module_level_imports(ast.Module(body=node.body, type_ignores=[]))
    return names


def test_azure_sdks_are_imported_lazily() -> None:
    """Indexing function_app.py is part of every cold start: no Azure SDK is imported at module level, even
    where SDKs are allowed (gateways and clients import them inside the functions that use them)."""
    for path in sources():
        eager = {m for m in _module_level_imports(ast.parse(path.read_text())) if _sdk(m)}
        assert not eager, f"{path.relative_to(ROOT)} imports {sorted(eager)} at module level"


def _layer(module: str) -> int | None:
    for index, layer in enumerate(CHAIN):
        if _under(module, layer):
            return index
    return None


def test_the_dependency_chain_points_one_way() -> None:
    """`function_app -> triggers -> reconcile -> (planning, executor) -> gateways -> clients`: no import
    from a lower layer up to a higher one."""
    modules = {_module_name(path) for path in sources()}
    against = set()
    for path in sources():
        module = _module_name(path)
        mine = _layer(module)
        if mine is None:
            continue
        for imported in imported_modules(path):
            theirs = _layer(imported)
            if imported in modules and theirs is not None and theirs < mine:
                against.add((module, imported))
    assert not against, f"imports against the chain: {sorted(against)}"


def test_no_module_imports_another_modules_private_name() -> None:
    """A `_name` is its module's own; what another module needs gets a public name where it belongs."""
    found = []
    for path in sources():
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ImportFrom):
                continue
            if node.level == 0 and not _under(node.module or "", ("lifecycle",)):
                continue
            private = [a.name for a in node.names if a.name.startswith("_") and not a.name.startswith("__")]
            if private:
                source = "." * node.level + (node.module or "")
                found.append(f"{path.relative_to(ROOT)}: from {source} import {', '.join(private)}")
    assert not found, "private names imported across modules:\n" + "\n".join(found)


def test_deployable_package_never_imports_emulator_tests_bench_or_demo() -> None:
    for path in sources():
        outside = {
            m for m in imported_modules(path) if m.split(".")[0] in {"emulator", "tests", "bench", "demo"}
        }
        assert not outside, f"{path.relative_to(ROOT)} imports {sorted(outside)}"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
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
