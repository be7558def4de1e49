"""The azd project and its hooks: the azd floor, one implementation behind thin sh and pwsh wrappers, early
and clear failures, and the rules the hooks compute (the lifecycle itself runs in test_azd_lifecycle.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.infra.conftest import ENVIRONMENT, INFRA, REPO
from tests.infra.grants import app_grants, parameters_file

HOOKS = INFRA / "hooks"
SUB = "00000000-0000-0000-0000-000000000000"
WRAPPERS = {
    "preprovision": "preprovision",
    "postprovision": "postprovision",
    "postdeploy": "subscribe-events",
    "predown": "predown",
}

sys.path.insert(0, str(HOOKS))
import azd_hooks  # noqa: E402


def project() -> dict[str, Any]:
    return dict(yaml.safe_load((REPO / "azure.yaml").read_text(encoding="utf-8")))


def test_azd_1_24_1_or_newer_is_required() -> None:
    # azd's CHANGELOG lists Azure/azure-dev#7698 (azd down deleted resource groups the deployment did not
    # create, the galleries' included) under 1.24.1.
    assert project()["requiredVersions"]["azd"] == ">= 1.24.1"
    for page in (REPO / "docs" / "deploy.md", INFRA / "README.md"):
        text = page.read_text(encoding="utf-8")
        assert "1.24.1" in text, page
        assert "1.24.0 or newer" not in text, page


@pytest.mark.parametrize("event", sorted(WRAPPERS))
def test_each_hook_runs_the_one_implementation_in_both_shells(event: str) -> None:
    hook = project()["hooks"][event]
    assert hook["posix"]["shell"] == "sh" and hook["windows"]["shell"] == "pwsh"
    for platform, suffix in (("posix", ".sh"), ("windows", ".ps1")):
        assert hook[platform]["run"] == f"./infra/hooks/{WRAPPERS[event]}{suffix}"
        assert hook[platform]["continueOnError"] is False
        script = REPO / hook[platform]["run"]
        text = script.read_text(encoding="utf-8")
        assert f"azd_hooks.py') {event}" in text or f'azd_hooks.py" {event}' in text, script
        assert "az " not in text.split("\n", 3)[-1], f"{script}: logic belongs in azd_hooks.py"
    posix = REPO / hook["posix"]["run"]
    assert posix.stat().st_mode & 0o111, f"{posix} is not executable"
    assert subprocess.run(["sh", "-n", str(posix)], check=False).returncode == 0, f"{posix}: syntax"


def test_pwsh_is_not_in_debian_so_the_powershell_wrappers_are_not_run_here() -> None:
    # The PowerShell hooks only start the same Python; the docs say they are not run by the tests.
    text = (REPO / "docs" / "deploy.md").read_text(encoding="utf-8")
    assert "pwsh" in text and "not in Debian's" in text


def _hook(
    script: str, environment: dict[str, str], path: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {"PATH": path or os.environ["PATH"], "LIFECYCLE_HOOK_PYTHON": sys.executable, **environment}
    return subprocess.run(
        ["sh", str(HOOKS / script)], capture_output=True, text=True, env=env, check=False, timeout=60
    )


@pytest.mark.parametrize("value", [None, ""], ids=["unset", "empty"])
def test_preprovision_fails_early_when_the_galleries_group_is_unset(value: str | None) -> None:
    result = _hook("preprovision.sh", {} if value is None else {"LIFECYCLE_GALLERY_RESOURCE_GROUP": value})
    assert result.returncode == 1
    assert "LIFECYCLE_GALLERY_RESOURCE_GROUP is not set" in result.stderr
    assert "azd env set LIFECYCLE_GALLERY_RESOURCE_GROUP" in result.stderr


def test_preprovision_says_it_needs_the_azure_cli_to_check_the_group(tmp_path: Path) -> None:
    # A PATH without az: the check cannot run, and says why instead of passing silently.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("sh", "dirname"):
        found = shutil.which(tool)
        assert found
        (bin_dir / tool).symlink_to(found)
    result = _hook(
        "preprovision.sh",
        {"LIFECYCLE_GALLERY_RESOURCE_GROUP": "rg-images", "AZURE_SUBSCRIPTION_ID": SUB},
        path=str(bin_dir),
    )
    assert result.returncode == 1
    assert "Azure CLI (az) is needed" in result.stderr and "rg-images" in result.stderr


def test_the_hooks_use_every_az_command_with_an_explicit_subscription() -> None:
    # The one place az is called adds --subscription; nothing else in the hooks calls it.
    text = (HOOKS / "azd_hooks.py").read_text(encoding="utf-8")
    assert text.count('["az", *args, "--subscription", subscription]') == 1
    assert text.count('"az"') == 2  # the call above and the check that az is installed


CONSUMER = "00000000-0000-0000-0000-0000000000c0"


@pytest.mark.parametrize(
    ("environment", "extra"),
    [
        pytest.param(ENVIRONMENT, {}, id="parameters-file"),
        pytest.param({k: v for k, v in ENVIRONMENT.items() if "TEMPLATE" not in k}, {}, id="no-templates"),
        pytest.param({**ENVIRONMENT, "LIFECYCLE_REBAKE_ON_BASE_UPDATE": "true"}, {}, id="base-images"),
        pytest.param(
            ENVIRONMENT,
            {
                "additionalGalleryResourceGroupNames": ["rg-images-2", "RG-IMAGES"],
                "additionalImageTemplateResourceGroupNames": ["rg-images"],
                "consumerSubscriptionIds": [CONSUMER],
                "diskEncryptionSetResourceGroupNames": ["rg-keys"],
            },
            id="everything",
        ),
    ],
)
def test_the_hooks_want_the_scopes_main_bicep_grants(
    templates: dict[str, dict[str, Any]], environment: dict[str, str], extra: dict[str, Any]
) -> None:
    # preprovision removes assignments at scopes it does not want: it must want exactly what main.bicep
    # assigns, role by role.
    parameters = {**parameters_file(INFRA / "main.parameters.json", environment), **extra}
    found = app_grants(templates["main.bicep"], parameters, SUB)
    module_of = {
        "gallery": "galleryRole",
        "in_use": "inUseRole",
        "templates": "templateRole",
        "base_images": "baseImageRole",
        "encryption": "encryptionRole",
    }
    wanted = azd_hooks.desired_role_scopes(parameters, SUB)
    assert set(wanted) == set(module_of)
    for kind, module in module_of.items():
        role = found["roles"][module]
        assert wanted[kind] == (role["assignable"] if role["deployed"] else set()), kind


def test_the_role_titles_are_main_bicep_role_names() -> None:
    main = (INFRA / "main.bicep").read_text(encoding="utf-8")
    for title in azd_hooks.ROLE_TITLES.values():
        assert f"roleName: '{title} (${{environmentName}}, ${{resourceToken}})'" in main, title


def test_the_hooks_find_what_main_bicep_outputs_and_set_what_it_reads() -> None:
    main = (INFRA / "main.bicep").read_text(encoding="utf-8")
    hooks = (HOOKS / "azd_hooks.py").read_text(encoding="utf-8")
    for output in (
        "LIFECYCLE_RESOURCE_TOKEN",
        "LIFECYCLE_APP_PRINCIPAL_ID",
        "LIFECYCLE_FUNCTION_APP_ID",
        "AZURE_FUNCTION_APP_NAME",
        "LIFECYCLE_EVENTS_SUBSCRIBED",
        "LIFECYCLE_RESOURCE_EVENT_TOPIC_IDS",
        "LIFECYCLE_ROLE_SCOPES",
        "LIFECYCLE_ROLE_ASSIGNMENTS_DEFERRED",
    ):
        assert f"output {output} " in main and output in hooks, output
    parameters = (INFRA / "main.parameters.json").read_text(encoding="utf-8")
    for setting, parameter in (
        ("LIFECYCLE_SUBSCRIBE_EVENTS", "subscribeFunctionToEvents"),
        ("LIFECYCLE_ROLES_READY", "roleAssignmentsReady"),
        ("LIFECYCLE_REUSE_RESOURCE_EVENT_TOPICS", "existingResourceEventTopicIds"),
    ):
        assert f'"{setting}"' in hooks and "${" + setting in parameters and parameter in parameters
    # Names the hooks share with main.bicep.
    assert "topicName: 'evgst-galleries-${resourceToken}'" in main
    assert "name: '${attachedTopicName}/gallery-versions-${subjectFilter.key}-${subscriptionSuffix}'" in (
        INFRA / "modules" / "resource-events.bicep"
    ).read_text(encoding="utf-8")


def test_the_outputs_the_stand_in_writes_are_main_bicep_outputs(templates: dict[str, dict[str, Any]]) -> None:
    fakes = (Path(__file__).resolve().parent / "fakes" / "azure_world.py").read_text(encoding="utf-8")
    block = fakes[fakes.index('    return {\n        "AZURE_FUNCTION_APP_NAME"') :]
    block = block[: block.index("\n    }\n")]
    names = {line.split('"')[1] for line in block.splitlines()[1:] if line.strip().startswith('"')}
    assert names and names <= set(templates["main.bicep"]["outputs"]), names - set(
        templates["main.bicep"]["outputs"]
    )


@pytest.mark.parametrize(
    ("parameters", "shared"),
    [
        pytest.param({"buildSystems": [], "approverPrincipalIds": ["a"]}, {}, id="approver-only"),
        pytest.param(
            {
                "buildSystems": [{"name": "packer", "senderPrincipalIds": ["A"]}],
                "approverPrincipalIds": ["a"],
            },
            {"a": ["build system 'packer'", "approvers"]},
            id="builder-approves",
        ),
        pytest.param(
            {
                "buildSystems": [
                    {"name": "packer", "senderPrincipalIds": ["b"]},
                    {"name": "pipelines", "senderPrincipalIds": ["b", "c"]},
                ]
            },
            {"b": ["build system 'packer'", "build system 'pipelines'"]},
            id="builder-on-two-build-topics",
        ),
    ],
)
def test_a_principal_may_send_on_one_topic_only(
    parameters: dict[str, Any], shared: dict[str, list[str]]
) -> None:
    assert azd_hooks.shared_senders(parameters) == shared


def test_azd_substitution_matches_the_tests_reading_of_the_parameters_file() -> None:
    text = (INFRA / "main.parameters.json").read_text(encoding="utf-8")
    ours = azd_hooks.azd_substitute(text, ENVIRONMENT)
    assert azd_hooks.load_parameters(ENVIRONMENT) == parameters_file(
        INFRA / "main.parameters.json", ENVIRONMENT
    )
    assert "${" not in ours
