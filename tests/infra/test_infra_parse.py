"""Every Bicep file under infra/ parses, and a syntax error is caught with the file named."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.infra.conftest import CHECKOV, INFRA, INFRA_PYTHON, REPO, mutate, parse_bicep_tree, require_tool

EXPECTED_FILES = {
    "main.bicep",
    "modules/function-app.bicep",
    "modules/host-storage.bicep",
    "modules/identity.bicep",
    "modules/lifecycle-topic.bicep",
    "modules/monitoring.bicep",
    "modules/policy-events.bicep",
    "modules/resource-events.bicep",
    "modules/role-definition.bicep",
    "modules/roles-app.bicep",
    "modules/roles-resource-group.bicep",
    "modules/roles-sender-topic.bicep",
    "modules/roles-subscription.bicep",
    "modules/sender-topic.bicep",
    "modules/storage.bicep",
}


def _failures(parsed: dict[str, dict[str, Any]]) -> dict[str, str]:
    return {name: str(result["error"]) for name, result in parsed.items() if not result["ok"]}


def test_the_parse_covers_every_bicep_file(parsed_infra: dict[str, dict[str, Any]]) -> None:
    on_disk = {p.relative_to(INFRA).as_posix() for p in INFRA.rglob("*.bicep")}
    assert set(parsed_infra) == on_disk
    assert on_disk >= EXPECTED_FILES, f"missing: {sorted(EXPECTED_FILES - on_disk)}"


def test_every_bicep_file_parses(parsed_infra: dict[str, dict[str, Any]]) -> None:
    failures = _failures(parsed_infra)
    assert not failures, "Bicep syntax errors:\n" + "\n".join(f"{f}: {e}" for f, e in failures.items())


def test_a_syntax_error_fails_the_parse_check_and_names_the_file(infra_copy: Callable[[], Path]) -> None:
    broken = infra_copy()
    mutate(broken / "modules" / "storage.bicep", "isVersioningEnabled: true", "isVersioningEnabled true")

    failures = _failures(parse_bicep_tree(broken))

    assert list(failures) == ["modules/storage.bicep"]
    assert "Unexpected" in failures["modules/storage.bicep"]


def test_an_unclosed_block_fails_the_parse_check(infra_copy: Callable[[], Path]) -> None:
    broken = infra_copy()
    main = broken / "main.bicep"
    main.write_text(main.read_text(encoding="utf-8") + "\nmodule dangling 'modules/identity.bicep' = {\n")

    failures = _failures(parse_bicep_tree(broken))

    assert list(failures) == ["main.bicep"]


@pytest.mark.parametrize("tool", [INFRA_PYTHON, CHECKOV], ids=["python", "checkov"])
def test_the_infra_tools_are_installed(tool: Path) -> None:
    assert require_tool(tool) == tool


def test_a_missing_tool_fails_and_says_how_to_install_it() -> None:
    with pytest.raises(pytest.fail.Exception, match=r"run `make infra-tools`"):
        require_tool(REPO / ".venv-infra-missing" / "bin" / "checkov")
