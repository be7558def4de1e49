"""The azd lifecycle, run: the hooks of azure.yaml (their sh wrappers) against stand-ins for `az` and `azd`
on PATH that record every call and answer from a model of Azure (tests/infra/fakes/azure_world.py), where
`azd provision` deploys main.bicep's roles, topics and subscriptions with ARM's rules.

Covered: a fresh `azd up`; `azd up` after a scope is removed and a feature turned off; `azd down` with
consumer subscriptions; `azd up` after `azd down`; two environments on one galleries' resource group; an
existing topic of someone else's reused and left in place; every az call naming its subscription.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.infra.conftest import INFRA, REPO
from tests.infra.fakes.azure_world import Refused, World, deploy, short_hash

FAKES = Path(__file__).resolve().parent / "fakes"
SUB = "00000000-0000-0000-0000-000000000000"
CONSUMER = "00000000-0000-0000-0000-0000000000c1"
OTHER_PRODUCT = "00000000-0000-0000-0000-0000000000e1"


def group(name: str, subscription: str = SUB) -> str:
    return f"/subscriptions/{subscription}/resourcegroups/{name}"


@pytest.fixture(scope="module")
def template_file(templates: dict[str, dict[str, Any]], tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "main.json"
    path.write_text(json.dumps(templates["main.bicep"]), encoding="utf-8")
    return path


class Azure:
    """A project directory (infra/ and azure.yaml), the model of Azure, and azd run against both."""

    def __init__(self, root: Path, template_file: Path) -> None:
        self.project = root / "project"
        shutil.copytree(INFRA, self.project / "infra")
        shutil.copy(REPO / "azure.yaml", self.project / "azure.yaml")
        self.state_file = root / "azure.json"
        self.log_file = root / "calls.jsonl"
        self.template_file = template_file
        # The stand-ins, run by this interpreter without site-packages: a version manager's shim on PATH
        # costs half a second a call.
        self.bin = root / "bin"
        self.bin.mkdir()
        for tool in ("az", "azd"):
            wrapper = self.bin / tool
            wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" -S "{FAKES / "bin" / tool}" "$@"\n')
            wrapper.chmod(0o755)
        self.state_file.write_text(
            json.dumps({"groups": [group("rg-images"), group("rg-builds"), group("rg-keys")]}),
            encoding="utf-8",
        )

    @contextmanager
    def edit(self) -> Iterator[dict[str, Any]]:
        """The model of Azure's state, to change in place: saved when the block ends."""
        world = World(self.state_file)
        yield world.state
        world.save()

    def new_env(self, name: str, **values: str) -> None:
        with self.edit() as state:
            state["envs"][name] = {
                "AZURE_SUBSCRIPTION_ID": SUB,
                "AZURE_LOCATION": "westeurope",
                "AZURE_PRINCIPAL_ID": "00000000-0000-0000-0000-0000000000a1",
                "LIFECYCLE_GALLERY_RESOURCE_GROUP": "rg-images",
                "LIFECYCLE_TEMPLATE_RESOURCE_GROUP": "rg-builds",
                **values,
            }

    def set_parameter(self, name: str, value: Any) -> None:
        path = self.project / "infra" / "main.parameters.json"
        document = json.loads(path.read_text(encoding="utf-8"))
        document["parameters"][name] = {"value": value}
        path.write_text(json.dumps(document, indent=2), encoding="utf-8")

    def _run(self, argv: list[str], timeout: int, **values: str) -> subprocess.CompletedProcess[str]:
        """argv in the project, the stand-ins first on PATH and pointed at the model, with `values` set."""
        environment = {
            **os.environ,
            "PATH": f"{self.bin}{os.pathsep}{os.environ['PATH']}",
            "LIFECYCLE_HOOK_PYTHON": sys.executable,
            "FAKE_AZURE_STATE": str(self.state_file),
            "FAKE_AZURE_LOG": str(self.log_file),
            **values,
        }
        return subprocess.run(
            argv,
            cwd=self.project,
            env=environment,
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
        )

    def azd(self, env: str, *args: str) -> subprocess.CompletedProcess[str]:
        return self._run(
            [str(self.bin / "azd"), *args],
            300,
            AZURE_ENV_NAME=env,
            FAKE_MAIN_TEMPLATE=str(self.template_file),
            LIFECYCLE_POLL_SECONDS="1",
            LIFECYCLE_FUNCTION_WAIT_SECONDS="3",
            LIFECYCLE_ROLE_WAIT_SECONDS="3",
        )

    def hook(self, env: str, name: str, timeout: int, **values: str) -> subprocess.CompletedProcess[str]:
        """One hook's sh wrapper run alone, with the environment's values as azd hands them to it."""
        script = self.project / "infra" / "hooks" / f"{name}.sh"
        return self._run(["sh", str(script)], timeout, **self.env(env), AZURE_ENV_NAME=env, **values)

    def ok(self, env: str, *args: str) -> subprocess.CompletedProcess[str]:
        result = self.azd(env, *args)
        assert result.returncode == 0, f"azd {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
        return result

    def up(self, env: str = "prod", **parameters: Any) -> None:
        """`azd up` (which must succeed) after setting main.parameters.json's `parameters`."""
        for name, value in parameters.items():
            self.set_parameter(name, value)
        self.ok(env, "up")

    def token(self, env: str) -> str:
        return self.env(env)["LIFECYCLE_RESOURCE_TOKEN"]

    def add_foreign_topic(self, identity: dict[str, str] | None, subscriptions: dict[str, Any]) -> str:
        """Another product's system topic on the galleries' group (Azure allows one per source); its id."""
        topic_id = f"{group('rg-images')}/providers/microsoft.eventgrid/systemtopics/audit-events"
        with self.edit() as state:
            state["system_topics"][topic_id] = {
                "id": topic_id,
                "name": "audit-events",
                "source": group("rg-images"),
                "topicType": "Microsoft.Resources.ResourceGroups",
                "identity": identity,
                "subscriptions": subscriptions,
            }
        return topic_id

    @property
    def state(self) -> dict[str, Any]:
        return dict(json.loads(self.state_file.read_text(encoding="utf-8")))

    def env(self, name: str) -> dict[str, str]:
        return dict(self.state["envs"][name])

    def calls(self, tool: str) -> list[list[str]]:
        if not self.log_file.exists():
            return []
        lines = self.log_file.read_text(encoding="utf-8").splitlines()
        return [entry["argv"] for entry in map(json.loads, lines) if entry["tool"] == tool]

    def assignments(self, env: str) -> dict[str, str]:
        """{scope: role name} of the environment's app identity."""
        principal = self.env(env)["LIFECYCLE_APP_PRINCIPAL_ID"]
        names = {r["id"].lower(): r["roleName"] for r in self.state["role_definitions"].values()}
        return {
            a["scope"].lower(): names.get(a["roleDefinitionId"].lower(), a["roleDefinitionId"])
            for a in self.state["role_assignments"].values()
            if a["principalId"] == principal
        }

    def roles(self, env: str) -> dict[str, list[str]]:
        token = self.env(env)["LIFECYCLE_RESOURCE_TOKEN"]
        return {
            r["roleName"].split(" (")[0]: r["assignableScopes"]
            for r in self.state["role_definitions"].values()
            if r["roleName"].endswith(f"({env}, {token})")
        }

    def galleries_topic(self) -> dict[str, Any] | None:
        topics = [
            t for t in self.state["system_topics"].values() if t["source"].lower() == group("rg-images")
        ]
        assert len(topics) <= 1, "Azure allows one system topic per source"
        return topics[0] if topics else None


@pytest.fixture
def azure(tmp_path: Path, template_file: Path) -> Azure:
    world = Azure(tmp_path, template_file)
    world.new_env("prod")
    return world


@pytest.fixture
def provisioned(azure: Azure) -> Azure:
    """The prod environment after a fresh `azd up`."""
    azure.up()
    return azure


def every_az_call_names_its_subscription(azure: Azure) -> None:
    calls = azure.calls("az")
    assert calls
    for argv in calls:
        assert "--subscription" in argv, argv
        subscription = argv[argv.index("--subscription") + 1]
        assert subscription in {SUB, CONSUMER}, argv


def test_a_fresh_up_assigns_the_roles_after_they_exist_and_subscribes_once_the_function_does(
    azure: Azure,
) -> None:
    azure.ok("prod", "up")

    env = azure.env("prod")
    token = azure.token("prod")
    assert azure.assignments("prod") == {
        group("rg-images"): f"Gallery lifecycle operator (prod, {token})",
        f"/subscriptions/{SUB}": f"Gallery lifecycle in-use reader (prod, {token})",
        group("rg-builds"): f"Gallery lifecycle template runner (prod, {token})",
    }
    topic = azure.galleries_topic()
    assert topic is not None and topic["name"] == f"evgst-galleries-{token}"
    assert list(topic["subscriptions"]) == [f"gallery-versions-{short_hash('rg-images')}-{token}"]
    approvals = next(t for t in azure.state["topics"].values() if t["name"] == f"evgt-approvals-{token}")
    assert list(approvals["subscriptions"]) == [f"version-approved-{token}"]
    assert env["LIFECYCLE_EVENTS_SUBSCRIBED"] == "true"
    assert env["LIFECYCLE_ROLE_ASSIGNMENTS_DEFERRED"] == "false"
    # The first provision defines the roles, the second (postprovision) assigns them, the third
    # (postdeploy, once on_event is listed) subscribes: no assignment raced its role, no subscription its
    # function.
    assert azure.calls("azd") == [
        ["up"],
        ["env", "set", "LIFECYCLE_REUSE_RESOURCE_EVENT_TOPICS", ""],
        ["env", "set", "LIFECYCLE_SUBSCRIBE_EVENTS", "false"],
        ["env", "set", "LIFECYCLE_ROLES_READY", "false"],
        ["provision", "--no-prompt"],
        ["env", "set", "LIFECYCLE_REUSE_RESOURCE_EVENT_TOPICS", ""],
        ["env", "set", "LIFECYCLE_SUBSCRIBE_EVENTS", "false"],
        ["env", "set", "LIFECYCLE_ROLES_READY", "true"],
        ["provision", "--no-prompt"],
        ["env", "set", "LIFECYCLE_REUSE_RESOURCE_EVENT_TOPICS", ""],
        ["env", "set", "LIFECYCLE_SUBSCRIBE_EVENTS", "true"],
        ["env", "set", "LIFECYCLE_ROLES_READY", "true"],
    ]
    every_az_call_names_its_subscription(azure)


def test_a_second_up_changes_nothing_and_provisions_once(provisioned: Azure) -> None:
    azure = provisioned
    before = azure.state
    provisions = azure.calls("azd").count(["provision", "--no-prompt"])

    azure.ok("prod", "up")

    after = azure.state
    assert after["role_assignments"] == before["role_assignments"]
    assert after["system_topics"] == before["system_topics"]
    assert azure.calls("azd").count(["provision", "--no-prompt"]) == provisions


def test_up_after_a_scope_is_removed_and_a_feature_turned_off(azure: Azure) -> None:
    azure.up(consumerSubscriptionIds=[CONSUMER], diskEncryptionSetResourceGroupNames=["rg-keys"])
    assert set(azure.assignments("prod")) == {
        group("rg-images"),
        group("rg-builds"),
        group("rg-keys"),
        f"/subscriptions/{SUB}",
        f"/subscriptions/{CONSUMER}",
    }

    # The consumer subscription leaves the policy, rebakes stop running templates, encryption sets go.
    azure.ok("prod", "env", "set", "LIFECYCLE_TEMPLATE_RESOURCE_GROUP", "")
    azure.up(consumerSubscriptionIds=[], diskEncryptionSetResourceGroupNames=[])

    assert set(azure.assignments("prod")) == {group("rg-images"), f"/subscriptions/{SUB}"}
    roles = azure.roles("prod")
    assert set(roles) == {"Gallery lifecycle operator", "Gallery lifecycle in-use reader"}
    assert roles["Gallery lifecycle in-use reader"] == [f"/subscriptions/{SUB}"]
    every_az_call_names_its_subscription(azure)


def test_without_the_hook_the_narrowed_role_fails_the_provision(
    azure: Azure, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The control: the same removal deployed without preprovision's clean-up is what Azure refuses.
    azure.up(consumerSubscriptionIds=[CONSUMER])
    azure.set_parameter("consumerSubscriptionIds", [])

    world = World(azure.state_file)
    values = {**world.state["envs"]["prod"], "AZURE_ENV_NAME": "prod", "LIFECYCLE_ROLES_READY": "true"}
    monkeypatch.setenv("FAKE_MAIN_TEMPLATE", str(azure.template_file))
    with pytest.raises(Refused, match="RoleScopeBeingRemovedContainsAssignments"):
        deploy(world, azure.project, values)


def test_down_with_consumer_subscriptions_removes_every_assignment_and_role_and_no_group(
    azure: Azure,
) -> None:
    azure.up(consumerSubscriptionIds=[CONSUMER])
    assert f"/subscriptions/{CONSUMER}" in azure.assignments("prod")

    azure.ok("prod", "down")

    assert azure.assignments("prod") == {}
    assert azure.roles("prod") == {}
    assert azure.galleries_topic() is None
    assert set(azure.state["groups"]) == {group("rg-images"), group("rg-builds"), group("rg-keys")}
    deletes = [c for c in azure.calls("az") if c[:3] == ["role", "assignment", "delete"]]
    assert any(c[c.index("--subscription") + 1] == CONSUMER for c in deletes)
    # The operator role is assignable only at the galleries' group: it was found by asking there.
    listed_at = {
        c[c.index("--scope") + 1].lower()
        for c in azure.calls("az")
        if c[:3] == ["role", "definition", "list"]
    }
    assert group("rg-images") in listed_at
    every_az_call_names_its_subscription(azure)


def test_up_after_down(provisioned: Azure) -> None:
    azure = provisioned
    azure.ok("prod", "down")

    azure.up()

    env = azure.env("prod")
    assert env["LIFECYCLE_EVENTS_SUBSCRIBED"] == "true"
    assert set(azure.assignments("prod")) == {group("rg-images"), group("rg-builds"), f"/subscriptions/{SUB}"}
    topic = azure.galleries_topic()
    assert topic is not None and topic["subscriptions"]


def test_the_subscribe_decision_follows_the_app_not_a_flag(azure: Azure) -> None:
    # A CI environment that copied LIFECYCLE_SUBSCRIBE_EVENTS=true and outputs of another app.
    azure.new_env(
        "ci",
        LIFECYCLE_SUBSCRIBE_EVENTS="true",
        LIFECYCLE_FUNCTION_APP_ID=f"/subscriptions/{SUB}/resourceGroups/rg-ci/providers/Microsoft.Web/sites/gone",
    )
    azure.up("ci")
    assert azure.env("ci")["LIFECYCLE_EVENTS_SUBSCRIBED"] == "true"


def test_two_environments_on_one_galleries_group(azure: Azure) -> None:
    azure.new_env("staging")
    azure.up("prod")
    azure.up("staging")

    prod, staging = azure.token("prod"), azure.token("staging")
    topic = azure.galleries_topic()
    assert topic is not None and topic["name"] == f"evgst-galleries-{prod}"
    key = short_hash("rg-images")
    assert set(topic["subscriptions"]) == {
        f"gallery-versions-{key}-{prod}",
        f"gallery-versions-{key}-{staging}",
    }
    assert json.loads(azure.env("staging")["LIFECYCLE_RESOURCE_EVENT_TOPIC_IDS"]) == [topic["id"]]

    azure.ok("prod", "down")
    topic = azure.galleries_topic()
    assert topic is not None, "staging still receives events through it"
    assert set(topic["subscriptions"]) == {f"gallery-versions-{key}-{staging}"}
    assert azure.assignments("prod") == {}
    assert group("rg-images") in azure.assignments("staging")

    azure.up("staging")  # prod's topic is still reused
    azure.ok("staging", "down")
    assert azure.galleries_topic() is None
    every_az_call_names_its_subscription(azure)


def test_an_existing_topic_of_another_product_is_reused_and_left_in_place(azure: Azure) -> None:
    topic_id = azure.add_foreign_topic(
        {"type": "SystemAssigned", "principalId": OTHER_PRODUCT},
        {"to-the-audit-log": {"destination": "elsewhere"}},
    )

    azure.up()
    token = azure.token("prod")
    assert azure.state["system_topics"][topic_id]["subscriptions"].keys() == {
        "to-the-audit-log",
        f"gallery-versions-{short_hash('rg-images')}-{token}",
    }

    azure.ok("prod", "down")
    assert azure.state["system_topics"][topic_id]["subscriptions"].keys() == {"to-the-audit-log"}


def test_a_reused_topic_without_identity_stops_preprovision_saying_how_to_fix_it(azure: Azure) -> None:
    azure.add_foreign_topic(None, {})

    result = azure.azd("prod", "up")

    assert result.returncode == 1
    assert "az eventgrid system-topic update --name audit-events" in result.stderr
    assert "--identity systemassigned" in result.stderr


def test_a_principal_on_two_sender_topics_stops_preprovision(azure: Azure) -> None:
    builder = "00000000-0000-0000-0000-0000000000b1"
    azure.set_parameter("buildSystems", [{"name": "packer", "senderPrincipalIds": [builder]}])
    azure.set_parameter("approverPrincipalIds", [builder])

    result = azure.azd("prod", "up")

    assert result.returncode == 1
    assert builder in result.stderr and "build system 'packer', approvers" in result.stderr
    assert "role_definitions" not in azure.state or not azure.state["role_definitions"]


def test_each_sender_may_send_on_its_own_topic_only(azure: Azure) -> None:
    packer, pipelines, approver = (f"00000000-0000-0000-0000-0000000000b{i}" for i in range(1, 4))
    azure.up(
        buildSystems=[
            {"name": "packer", "senderPrincipalIds": [packer]},
            {"name": "pipelines", "senderPrincipalIds": [pipelines]},
        ],
        approverPrincipalIds=[approver],
    )

    env = azure.env("prod")
    token = azure.token("prod")
    granted = {
        a["principalId"]: a["scope"].rsplit("/", 1)[-1]
        for a in azure.state["role_assignments"].values()
        if "/providers/microsoft.eventgrid/topics/" in a["scope"]
    }
    assert granted == {
        packer: f"evgt-build-packer-{token}",
        pipelines: f"evgt-build-pipelines-{token}",
        approver: f"evgt-approvals-{token}",
    }
    assert [s.rsplit("/", 1)[-1] for s in json.loads(env["LIFECYCLE_BUILD_SOURCES"])] == [
        f"evgt-build-packer-{token}",
        f"evgt-build-pipelines-{token}",
    ]


def test_postdeploy_gives_up_when_the_function_never_appears(azure: Azure) -> None:
    azure.ok("prod", "provision")
    result = azure.hook(
        "prod", "subscribe-events", 60, LIFECYCLE_POLL_SECONDS="1", LIFECYCLE_FUNCTION_WAIT_SECONDS="2"
    )
    assert result.returncode == 1
    assert "did not list the function on_event within 2s" in result.stderr
    assert azure.env("prod")["LIFECYCLE_EVENTS_SUBSCRIBED"] == "false"


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"AZURE_LOCATION": "northeurope"}, id="location-changed"),
        pytest.param({"AZURE_SUBSCRIPTION_ID": CONSUMER}, id="subscription-changed"),
    ],
)
def test_a_moved_environment_does_not_subscribe_before_its_new_app_exists(
    provisioned: Azure, change: dict[str, str]
) -> None:
    azure = provisioned
    with azure.edit() as state:
        state["envs"]["prod"].update(change)
        # The galleries moved with it.
        state["groups"] += [group(g, CONSUMER) for g in ("rg-images", "rg-builds")]

    result = azure.hook("prod", "preprovision", 120)

    assert result.returncode == 0, result.stderr
    assert azure.env("prod")["LIFECYCLE_SUBSCRIBE_EVENTS"] == "false"


def test_an_upgrade_removes_the_former_builds_topic_and_unsuffixed_subscriptions(provisioned: Azure) -> None:
    azure = provisioned
    token = azure.token("prod")
    builds = f"{group('rg-prod')}/providers/microsoft.eventgrid/topics/evgt-builds-{token}"
    legacy = f"gallery-versions-{short_hash('rg-images')}"
    with azure.edit() as state:
        state["topics"][builds] = {"id": builds, "name": f"evgt-builds-{token}", "subscriptions": {}}
        topic = next(iter(state["system_topics"].values()))
        topic["subscriptions"][legacy] = {"destination": "on_event"}

    azure.up()

    assert builds not in azure.state["topics"]
    topic = azure.galleries_topic()
    assert topic is not None and legacy not in topic["subscriptions"]
    assert f"{legacy}-{token}" in topic["subscriptions"]
