"""The azd lifecycle: a current azd, hooks in both shells, an early and clear failure when the galleries'
resource group is unset or missing, subscriptions only once the function is listed, and a teardown that
removes what the deployment placed in the galleries' resource groups but never a resource group."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.infra.conftest import INFRA, REPO

HOOKS = INFRA / "hooks"


def project() -> dict[str, Any]:
    return dict(yaml.safe_load((REPO / "azure.yaml").read_text(encoding="utf-8")))


def test_azd_1_24_or_newer_is_required() -> None:
    # Older azd deleted every resource group a deployment touched on `azd down` (Azure/azure-dev#7698).
    assert project()["requiredVersions"]["azd"] == ">= 1.24.0"


@pytest.mark.parametrize("event", ["preprovision", "postdeploy", "predown"])
def test_each_hook_exists_in_both_shells(event: str) -> None:
    hook = project()["hooks"][event]
    assert hook["posix"]["shell"] == "sh" and hook["windows"]["shell"] == "pwsh"
    for platform in ("posix", "windows"):
        script = REPO / hook[platform]["run"]
        assert script.is_file(), f"{event} {platform}: {script} missing"
        assert hook[platform]["continueOnError"] is False
    posix = REPO / hook["posix"]["run"]
    assert posix.stat().st_mode & 0o111, f"{posix} is not executable"
    assert subprocess.run(["sh", "-n", str(posix)], check=False).returncode == 0, f"{posix}: syntax"


def _preprovision(environment: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ["PATH"], **environment}
    return subprocess.run(
        ["sh", str(HOOKS / "preprovision.sh")],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=60,
    )


@pytest.mark.parametrize("value", [None, ""], ids=["unset", "empty"])
def test_preprovision_fails_early_when_the_galleries_group_is_unset(value: str | None) -> None:
    result = _preprovision({} if value is None else {"LIFECYCLE_GALLERY_RESOURCE_GROUP": value})
    assert result.returncode == 1
    assert "LIFECYCLE_GALLERY_RESOURCE_GROUP is not set" in result.stderr
    assert "azd env set LIFECYCLE_GALLERY_RESOURCE_GROUP" in result.stderr


def test_preprovision_says_it_needs_the_azure_cli_to_check_the_group(tmp_path: Path) -> None:
    # A PATH with sh but no az: the check cannot run, and says why instead of passing silently.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("sh", "cat", "printf"):
        found = shutil.which(tool)
        if found:
            (bin_dir / tool).symlink_to(found)
    result = subprocess.run(
        [str(bin_dir / "sh"), str(HOOKS / "preprovision.sh")],
        capture_output=True,
        text=True,
        env={"PATH": str(bin_dir), "LIFECYCLE_GALLERY_RESOURCE_GROUP": "rg-images"},
        check=False,
        timeout=60,
    )
    assert result.returncode == 1
    assert "Azure CLI (az) is needed" in result.stderr and "rg-images" in result.stderr


@pytest.mark.parametrize("script", ["preprovision.sh", "preprovision.ps1"])
def test_preprovision_checks_that_the_group_exists(script: str) -> None:
    text = (HOOKS / script).read_text(encoding="utf-8")
    assert "group" in text and "exists" in text and "does not exist" in text


@pytest.mark.parametrize("script", ["subscribe-events.sh", "subscribe-events.ps1"])
def test_subscriptions_wait_for_the_function_to_be_listed_with_a_timeout(script: str) -> None:
    text = (HOOKS / script).read_text(encoding="utf-8")
    assert "functionapp function show" in text and "on_event" in text
    assert "LIFECYCLE_FUNCTION_WAIT_SECONDS" in text
    assert text.index("functionapp function show") < text.index("azd env set LIFECYCLE_SUBSCRIBE_EVENTS true")


@pytest.mark.parametrize("script", ["predown.sh", "predown.ps1"])
def test_predown_removes_what_the_deployment_placed_and_never_a_resource_group(script: str) -> None:
    text = (HOOKS / script).read_text(encoding="utf-8")
    for command in (
        "eventgrid system-topic event-subscription delete",
        "eventgrid system-topic delete",
        "role assignment delete",
        "role definition delete",
    ):
        assert command in text, command
    assert "evgst-galleries-" in text  # the resource-event system topics main.bicep names
    assert "group delete" not in text and "az group" not in text
    assert (
        text.rstrip()
        .splitlines()[-1 if script.endswith(".sh") else -2]
        .startswith("azd env set LIFECYCLE_SUBSCRIBE_EVENTS false")
    )


def test_the_hooks_find_what_main_bicep_outputs() -> None:
    main = (INFRA / "main.bicep").read_text(encoding="utf-8")
    for output in ("LIFECYCLE_RESOURCE_TOKEN", "LIFECYCLE_APP_PRINCIPAL_ID", "AZURE_FUNCTION_APP_NAME"):
        assert f"output {output} " in main
    assert "topicName: 'evgst-galleries-${resourceToken}'" in main
