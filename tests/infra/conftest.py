"""Shared helpers for the infrastructure tests: the tools of `.venv-infra`, run once per session.

pycep and checkov live in `.venv-infra` (checkov pins many packages of its own), so they are run as
subprocesses with that environment's interpreter. A missing environment is a failure, not a skip: the checks
must not silently stop running.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infra"
INFRA_VENV = REPO / ".venv-infra"
INFRA_PYTHON = INFRA_VENV / "bin" / "python"
CHECKOV = INFRA_VENV / "bin" / "checkov"
CUSTOM_CHECKS = Path(__file__).resolve().parent / "checks"
PARSE_SCRIPT = Path(__file__).resolve().parent / "bicep_parse.py"

# An azd environment's values as the hooks and main.parameters.json read them.
ENVIRONMENT = {
    "AZURE_ENV_NAME": "lifecycle-test",
    "AZURE_LOCATION": "westeurope",
    "AZURE_PRINCIPAL_ID": "00000000-0000-0000-0000-0000000000a1",
    "LIFECYCLE_GALLERY_RESOURCE_GROUP": "rg-images",
    "LIFECYCLE_TEMPLATE_RESOURCE_GROUP": "rg-builds",
}

# checkov on one tree takes several seconds: more than enough for any one run.
CHECKOV_TIMEOUT_SECONDS = 600


def require_tool(tool: Path) -> Path:
    """The tool's path; a failure (never a skip) telling how to install it when it is missing."""
    if not tool.exists():
        shown = tool.relative_to(REPO) if tool.is_relative_to(REPO) else tool
        pytest.fail(
            f"{shown} not found: run `make infra-tools` to build .venv-infra "
            "(checkov and pycep-parser from requirements-infra.txt)",
            pytrace=False,
        )
    return tool


def parse_bicep_tree(root: Path) -> dict[str, dict[str, Any]]:
    """pycep's verdict on every .bicep file under root: {relative path: {"ok", "template" | "error"}}."""
    python = require_tool(INFRA_PYTHON)
    proc = subprocess.run(
        [str(python), str(PARSE_SCRIPT), str(root)],
        capture_output=True,
        text=True,
        timeout=CHECKOV_TIMEOUT_SECONDS,
        check=False,
    )
    if proc.returncode != 0:
        pytest.fail(f"bicep_parse.py exited {proc.returncode}:\n{proc.stderr}", pytrace=False)
    files: dict[str, dict[str, Any]] = json.loads(proc.stdout)["files"]
    return files


def run_checkov(root: Path) -> dict[str, Any]:
    """checkov's Bicep report for the tree under root, with the custom checks of tests/infra/checks loaded."""
    checkov = require_tool(CHECKOV)
    proc = subprocess.run(
        [
            str(checkov),
            "--directory",
            str(root),
            "--framework",
            "bicep",
            "--skip-download",
            "--external-checks-dir",
            str(CUSTOM_CHECKS),
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=CHECKOV_TIMEOUT_SECONDS,
        check=False,
        cwd=root,
    )
    # checkov exits 1 when a check fails: the report on stdout is what matters, unless there is none.
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError:
        pytest.fail(
            f"checkov produced no JSON report (exit {proc.returncode}):\n"
            f"{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}",
            pytrace=False,
        )
    if isinstance(report, list):  # one report per framework; only bicep was asked for
        reports = [r for r in report if r.get("check_type") == "bicep"]
        assert len(reports) == 1, f"expected one bicep report, got {[r.get('check_type') for r in report]}"
        report = reports[0]
    if "results" not in report:
        # checkov prints a bare summary when it found nothing to scan
        pytest.fail(f"checkov found nothing to scan under {root}: {report}", pytrace=False)
    return dict(report)


def copy_infra(destination: Path) -> Path:
    """A scratch copy of infra/ to break on purpose."""
    target = destination / "infra"
    shutil.copytree(INFRA, target)
    return target


def mutate(path: Path, old: str, new: str) -> None:
    """Replace text that must be there: a mutation that silently matches nothing would prove nothing."""
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{path.name} no longer contains {old!r}; update the negative test"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


@pytest.fixture(scope="session")
def parsed_infra() -> dict[str, dict[str, Any]]:
    """pycep's parse of the real infra/ tree, once per session."""
    return parse_bicep_tree(INFRA)


@pytest.fixture(scope="session")
def templates(parsed_infra: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The parsed templates by relative path; fails if any file did not parse."""
    broken = {name: result["error"] for name, result in parsed_infra.items() if not result["ok"]}
    assert not broken, f"Bicep files that do not parse: {broken}"
    return {name: result["template"] for name, result in parsed_infra.items()}


@pytest.fixture(scope="session")
def checkov_report() -> dict[str, Any]:
    """checkov's report on the real infra/ tree, once per session."""
    return run_checkov(INFRA)


@pytest.fixture(scope="session")
def infra_copy(tmp_path_factory: pytest.TempPathFactory) -> Callable[[], Path]:
    """A factory of fresh scratch copies of infra/."""

    def make() -> Path:
        return copy_infra(tmp_path_factory.mktemp("infra"))

    return make
