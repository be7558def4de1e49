"""Stand-ins for `az` and `azd` that the hook tests put first on PATH: they record every call and answer from
a small model of Azure kept in a JSON file, and `azd provision` deploys main.bicep into that model.

The model keeps what the hooks touch: resource groups, the function app and its functions, Event Grid system
and custom topics with their event subscriptions, custom role definitions and role assignments. Azure's
rules it enforces, each where it is checked:
- Event Grid allows one system topic per source ("Only one system topic is allowed per source"); a
  subscription to an Azure Function is validated against the function, which must exist.
- A role definition cannot drop an assignable scope that still holds an assignment
  (`RoleScopeBeingRemovedContainsAssignments`), nor be deleted while assigned
  (`RoleDefinitionHasAssignments`).
- A role definition, or a scope added to one, replicates before it can be assigned. How long is not
  confirmed, so the model takes the stricter reading: an assignment in the same deployment that creates the
  role or adds the scope always fails (`RoleDefinitionDoesNotExist`).
- Listing role definitions at a scope returns those assignable there or above, never those assignable only
  below it (a role assignable only at resource groups is not listed at the subscription).
- az's default subscription is never the environment's: a call without `--subscription` is refused.

The deployment follows main.bicep: the custom roles come from tests/infra/grants.py's reading of the parsed
template (FAKE_MAIN_TEMPLATE), the names of topics and subscriptions from main.bicep's patterns.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

EVENT_GRID_DATA_SENDER = "d5a91429-5739-47e2-a06b-3470a27159e7"
FUNCTIONS = ["on_event", "sweep", "reconcile_image"]
VALUELESS = {"--yes", "--all", "--no-prompt", "--force", "--purge"}


class Refused(Exception):
    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def low(value: str) -> str:
    return value.lower()


def short_hash(*parts: str) -> str:
    return hashlib.sha1("|".join(parts).encode()).hexdigest()[:13]


class World:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.state: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
        for key in (
            "groups",
            "sites",
            "system_topics",
            "topics",
            "role_definitions",
            "role_assignments",
            "envs",
        ):
            self.state.setdefault(key, {} if key != "groups" else [])

    def save(self) -> None:
        self.path.write_text(json.dumps(self.state, indent=1, sort_keys=True))

    # --- helpers
    def group_exists(self, group_id: str) -> bool:
        return low(group_id) in self.state["groups"]

    def system_topics_in(self, subscription: str, group: str | None = None) -> list[dict[str, Any]]:
        prefix = low(
            f"/subscriptions/{subscription}/resourceGroups/{group}/"
            if group
            else f"/subscriptions/{subscription}/"
        )
        return [t for i, t in self.state["system_topics"].items() if i.startswith(prefix)]

    def role_by_name(self, name: str) -> dict[str, Any] | None:
        return self.state["role_definitions"].get(low(name))

    def assignments_of_role(self, guid: str) -> list[dict[str, Any]]:
        return [
            a
            for a in self.state["role_assignments"].values()
            if low(a["roleDefinitionId"]).endswith(low(guid))
        ]


def parse(argv: list[str]) -> tuple[list[str], dict[str, str]]:
    words: list[str] = []
    options: dict[str, str] = {}
    index = 0
    while index < len(argv):
        arg = argv[index]
        if arg.startswith("--"):
            if arg in VALUELESS:
                options[arg] = "true"
                index += 1
            else:
                options[arg] = argv[index + 1]
                index += 2
        else:
            words.append(arg)
            index += 1
    return words, options


def record(tool: str, argv: list[str]) -> None:
    log = os.environ.get("FAKE_AZURE_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(
                json.dumps({"tool": tool, "argv": argv, "env": os.environ.get("AZURE_ENV_NAME", "")}) + "\n"
            )


def _require_sub(options: dict[str, str], resource_id: str) -> None:
    sub = options["--subscription"]
    if not low(resource_id).startswith(low(f"/subscriptions/{sub}")):
        raise Refused(f"(ResourceNotFound) {resource_id} is not in subscription {sub}", 3)


def _in_scope_or_above(assignable: str, scope: str) -> bool:
    return low(scope) == low(assignable) or low(scope).startswith(low(assignable) + "/")


def az(world: World, argv: list[str]) -> str:
    words, options = parse(argv)
    if "--subscription" not in options:
        raise Refused(
            "fake az: --subscription missing (az's default subscription is not the environment's)", 2
        )
    sub = options["--subscription"]
    command = " ".join(words)
    state = world.state
    if command == "group exists":
        return (
            "true"
            if world.group_exists(f"/subscriptions/{sub}/resourceGroups/{options['--name']}")
            else "false"
        )
    if command == "functionapp show":
        _require_sub(options, options["--ids"])
        site = state["sites"].get(low(options["--ids"]))
        if site is None:
            raise Refused(f"(ResourceNotFound) {options['--ids']}", 3)
        return str(site["location"])
    if command == "functionapp function show":
        site_id = low(
            f"/subscriptions/{sub}/resourceGroups/{options['--resource-group']}/providers/Microsoft.Web/sites/{options['--name']}"
        )
        site = state["sites"].get(site_id)
        if site is None or options["--function-name"] not in site["functions"]:
            raise Refused("(NotFound) function not found", 3)
        return options["--function-name"]
    if command == "eventgrid system-topic list":
        return json.dumps(world.system_topics_in(sub, options.get("--resource-group")))
    if command.startswith("eventgrid system-topic event-subscription"):
        topic_id = low(
            f"/subscriptions/{sub}/resourceGroups/{options['--resource-group']}/providers/Microsoft.EventGrid/systemTopics/{options['--system-topic-name']}"
        )
        topic = state["system_topics"].get(topic_id)
        if topic is None:
            raise Refused(f"(ResourceNotFound) {topic_id}", 3)
        if words[-1] == "list":
            return json.dumps([{"name": n, **s} for n, s in topic["subscriptions"].items()])
        if words[-1] == "delete":
            topic["subscriptions"].pop(options["--name"], None)
            return ""
    if command == "eventgrid system-topic delete":
        state["system_topics"].pop(
            low(
                f"/subscriptions/{sub}/resourceGroups/{options['--resource-group']}/providers/Microsoft.EventGrid/systemTopics/{options['--name']}"
            ),
            None,
        )
        return ""
    if command == "eventgrid topic list":
        prefix = low(f"/subscriptions/{sub}/resourceGroups/{options['--resource-group']}/")
        return json.dumps([t for i, t in state["topics"].items() if i.startswith(prefix)])
    if command == "eventgrid topic delete":
        state["topics"].pop(
            low(
                f"/subscriptions/{sub}/resourceGroups/{options['--resource-group']}/providers/Microsoft.EventGrid/topics/{options['--name']}"
            ),
            None,
        )
        return ""
    if command == "role definition list":
        scope = options["--scope"]
        _require_sub(options, scope)
        listed = [
            r
            for r in state["role_definitions"].values()
            if any(_in_scope_or_above(a, scope) for a in r["assignableScopes"])
        ]
        return json.dumps(listed)
    if command == "role definition delete":
        _require_sub(options, options["--scope"])
        role = world.role_by_name(options["--name"])
        if role is None:
            raise Refused("(RoleDefinitionDoesNotExist)", 3)
        if world.assignments_of_role(role["name"]):
            raise Refused(
                "There are existing role assignments referencing role (code: RoleDefinitionHasAssignments)"
            )
        del state["role_definitions"][low(role["name"])]
        return ""
    if command == "role assignment list":
        if "--all" in options:
            principal = low(options["--assignee"])
            return json.dumps(
                [
                    a
                    for a in state["role_assignments"].values()
                    if low(a["principalId"]) == principal
                    and low(a["scope"]).startswith(low(f"/subscriptions/{sub}"))
                ]
            )
        _require_sub(options, options["--scope"])
        return json.dumps(
            [
                a
                for a in world.assignments_of_role(options["--role"])
                if low(a["scope"]) == low(options["--scope"])
            ]
        )
    if command == "role assignment delete":
        _require_sub(options, options["--ids"])
        state["role_assignments"].pop(low(options["--ids"]), None)
        return ""
    raise Refused(f"fake az does not know `az {command}`", 2)


# --- azd -----------------------------------------------------------------------------------------------


def env_values(world: World, name: str) -> dict[str, str]:
    return world.state["envs"].setdefault(name, {})


def substitute(text: str, values: dict[str, str]) -> str:
    import re

    def value(match: re.Match[str]) -> str:
        key, _, default = match.group(1).partition("=")
        return values.get(key, default) or default

    return re.sub(r"\$\{([^}]*)\}", value, text)


def deploy(world: World, project: Path, values: dict[str, str]) -> dict[str, str]:
    """main.bicep, deployed incrementally into the model; returns the outputs azd writes to the
    environment."""
    sys.path.insert(0, str(HERE.parent))
    from grants import Evaluator, roles  # tests/infra/grants.py, standard library only

    template = json.loads(Path(os.environ["FAKE_MAIN_TEMPLATE"]).read_text())
    raw = substitute((project / "infra" / "main.parameters.json").read_text(), values)
    parameters = {k: v["value"] for k, v in json.loads(raw)["parameters"].items()}
    state = world.state
    sub, env, location = values["AZURE_SUBSCRIPTION_ID"], values["AZURE_ENV_NAME"], values["AZURE_LOCATION"]
    token = short_hash(sub, env, location)
    truthy = lambda name: str(parameters.get(name, "false")).lower() == "true"  # noqa: E731
    subscribe, ready = truthy("subscribeFunctionToEvents"), truthy("roleAssignmentsReady")
    app_group = low(f"/subscriptions/{sub}/resourceGroups/rg-{env}")
    principal = str(uuid.uuid5(uuid.NAMESPACE_URL, f"principal|{token}"))
    site_id = low(f"{app_group}/providers/Microsoft.Web/sites/func-lifecycle-{token}")

    # The custom roles, as main.bicep defines them for these parameters.
    evaluator = Evaluator(template, parameters, sub)
    evaluator.variables["resourceToken"] = token
    defined = roles(template, evaluator)
    planned: list[tuple[dict[str, Any], set[str], bool]] = []
    for module, info in defined.items():
        if not info["deployed"]:
            continue
        params = template["modules"][module]["config"]
        while "config" in params:
            params = params["config"]
        params = params["params"]
        guid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{sub}|{params['roleKey']}|{env}-{token}"))
        role_name = evaluator.value(params["roleName"])
        existing = world.role_by_name(guid)
        scopes = sorted(info["assignable"])
        if existing is not None:
            removed = {low(s) for s in existing["assignableScopes"]} - set(scopes)
            for assignment in world.assignments_of_role(guid):
                if low(assignment["scope"]) in removed:
                    raise Refused(
                        f"RoleScopeBeingRemovedContainsAssignments: role '{role_name}' cannot drop scope "
                        f"{assignment['scope']}, which holds assignments"
                    )
        added = set(scopes) - ({low(s) for s in existing["assignableScopes"]} if existing else set())
        role = {
            "name": guid,
            "id": f"/subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions/{guid}",
            "roleName": role_name,
            "roleType": "CustomRole",
            "assignableScopes": scopes,
        }
        planned.append((role, added, existing is None))
    for role, _, _ in planned:
        state["role_definitions"][low(role["name"])] = role
    if ready:
        for role, added, created in planned:
            for scope in role["assignableScopes"]:
                if created or scope in added:
                    raise Refused(
                        f"RoleDefinitionDoesNotExist: the role definition '{role['roleName']}' (or its scope "
                        f"{scope}) is not visible yet to the assignment made in the same deployment"
                    )
                assignment_id = low(
                    f"{scope}/providers/Microsoft.Authorization/roleAssignments/"
                    + str(uuid.uuid5(uuid.NAMESPACE_URL, f"{scope}|{principal}|{role['name']}"))
                )
                state["role_assignments"][assignment_id] = {
                    "id": assignment_id,
                    "scope": scope,
                    "roleDefinitionId": role["id"],
                    "principalId": principal,
                }

    # The app's group and the app: code is deployed separately (azd deploy lists the functions).
    if app_group not in state["groups"]:
        state["groups"].append(app_group)
    site = state["sites"].setdefault(site_id, {"id": site_id, "functions": []})
    site.update(name=f"func-lifecycle-{token}", location=location)

    def function_subscription(where: str) -> dict[str, Any]:
        if "on_event" not in site["functions"]:
            raise Refused(
                f"Event Grid: the destination function {site_id}/functions/on_event does not exist ({where})"
            )
        return {"destination": f"{site_id}/functions/on_event"}

    # Resource-event system topics: one per galleries' group (or the subscription), created or reused.
    galleries = [
        parameters["galleryResourceGroupName"],
        *parameters.get("additionalGalleryResourceGroupNames", []),
    ]
    reused = [t for t in str(parameters.get("existingResourceEventTopicIds") or "").split(",") if t]
    by_group = {low(t.split("/")[4]): t for t in reused}
    used_topics = []
    scope_mode = parameters.get("resourceEventScope", "resourceGroup")
    sources = (
        [(f"/subscriptions/{sub}", app_group, galleries)]
        if scope_mode == "subscription"
        else [
            (f"/subscriptions/{sub}/resourceGroups/{g}", low(f"/subscriptions/{sub}/resourceGroups/{g}"), [g])
            for g in galleries
        ]
    )
    for source, group_id, groups in sources:
        reuse = (
            (reused[0] if reused else "")
            if scope_mode == "subscription"
            else by_group.get(low(groups[0]), "")
        )
        if reuse:
            topic = state["system_topics"].get(low(reuse))
            if topic is None or "systemassigned" not in low((topic.get("identity") or {}).get("type", "")):
                raise Refused(f"reused system topic {reuse} is missing or has no identity")
        else:
            topic_id = low(f"{group_id}/providers/Microsoft.EventGrid/systemTopics/evgst-galleries-{token}")
            for other_id, other in state["system_topics"].items():
                if low(other["source"]) == low(source) and other_id != topic_id:
                    raise Refused(
                        "Only one system topic is allowed per source: "
                        f"{other['name']} already carries {source}"
                    )
            topic = state["system_topics"].setdefault(
                topic_id,
                {
                    "id": topic_id,
                    "name": f"evgst-galleries-{token}",
                    "source": source,
                    "topicType": "Microsoft.Resources.Subscriptions"
                    if scope_mode == "subscription"
                    else "Microsoft.Resources.ResourceGroups",
                    "identity": {"type": "SystemAssigned"},
                    "subscriptions": {},
                },
            )
        used_topics.append(topic["id"])
        if subscribe:
            for group in groups:
                name = f"gallery-versions-{short_hash(group)}-{token}"
                topic["subscriptions"][name] = function_subscription(topic["name"])

    # Sender topics in the app's group: one per build system, one for approvers; senders on their own only.
    senders = [
        (f"evgt-build-{s['name']}-{token}", s["senderPrincipalIds"], "build-completed")
        for s in parameters.get("buildSystems", [])
    ]
    senders.append(
        (f"evgt-approvals-{token}", parameters.get("approverPrincipalIds", []), "version-approved")
    )
    for name, principals, subscription_name in senders:
        topic_id = low(f"{app_group}/providers/Microsoft.EventGrid/topics/{name}")
        topic = state["topics"].setdefault(topic_id, {"id": topic_id, "name": name, "subscriptions": {}})
        if subscribe:
            topic["subscriptions"][f"{subscription_name}-{token}"] = function_subscription(name)
        for sender in principals:
            assignment_id = low(
                f"{topic_id}/providers/Microsoft.Authorization/roleAssignments/"
                + str(uuid.uuid5(uuid.NAMESPACE_URL, topic_id + sender))
            )
            state["role_assignments"][assignment_id] = {
                "id": assignment_id,
                "scope": topic_id,
                "principalId": sender,
                "roleDefinitionId": (
                    f"/subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions/"
                    f"{EVENT_GRID_DATA_SENDER}"
                ),
            }

    scopes = sorted({s for role, _, _ in planned for s in role["assignableScopes"]})
    return {
        "AZURE_FUNCTION_APP_NAME": site["name"],
        "AZURE_RESOURCE_GROUP": f"rg-{env}",
        "LIFECYCLE_RESOURCE_TOKEN": token,
        "LIFECYCLE_APP_PRINCIPAL_ID": principal,
        "LIFECYCLE_FUNCTION_APP_ID": site_id,
        "LIFECYCLE_EVENTS_SUBSCRIBED": "true" if subscribe else "false",
        "LIFECYCLE_RESOURCE_EVENT_TOPIC_IDS": json.dumps(used_topics),
        "LIFECYCLE_ROLE_SCOPES": json.dumps(scopes),
        "LIFECYCLE_ROLE_ASSIGNMENTS_DEFERRED": "false" if ready else "true",
        "LIFECYCLE_BUILD_SOURCES": json.dumps(
            [
                low(f"{app_group}/providers/Microsoft.EventGrid/topics/{n}")
                for n, _, s in senders
                if s == "build-completed"
            ]
        ),
        "LIFECYCLE_APPROVAL_SOURCES": json.dumps(
            [low(f"{app_group}/providers/Microsoft.EventGrid/topics/evgt-approvals-{token}")]
        ),
    }


def run_hook(world: World, project: Path, env: str, hook: str) -> int:
    """Runs a hook as azd does: the sh script of azure.yaml, with the environment's values exported."""
    world.save()
    scripts = {
        "preprovision": "preprovision.sh",
        "postprovision": "postprovision.sh",
        "postdeploy": "subscribe-events.sh",
        "predown": "predown.sh",
    }
    environment = {**os.environ, **env_values(world, env), "AZURE_ENV_NAME": env}
    code = subprocess.run(
        ["sh", str(project / "infra" / "hooks" / scripts[hook])], cwd=project, env=environment, check=False
    ).returncode
    world.__init__(world.path)  # the hook (and any azd it ran) changed the model
    return code


def provision(world: World, project: Path, env: str) -> int:
    if run_hook(world, project, env, "preprovision") != 0:
        return 1
    try:
        outputs = deploy(world, project, {**env_values(world, env), "AZURE_ENV_NAME": env})
    except Refused as exc:
        print(f"ERROR: deployment failed: {exc}", file=sys.stderr)
        world.save()
        return 1
    env_values(world, env).update(outputs)
    return run_hook(world, project, env, "postprovision")


def deploy_code(world: World, project: Path, env: str) -> int:
    values = env_values(world, env)
    site = world.state["sites"].get(low(values.get("LIFECYCLE_FUNCTION_APP_ID", "")))
    if site is None:
        print("ERROR: no function app to deploy to", file=sys.stderr)
        return 1
    site["functions"] = list(FUNCTIONS)
    return run_hook(world, project, env, "postdeploy")


def down(world: World, project: Path, env: str) -> int:
    if run_hook(world, project, env, "predown") != 0:
        return 1
    app_group = low(
        f"/subscriptions/{env_values(world, env)['AZURE_SUBSCRIPTION_ID']}/resourceGroups/rg-{env}"
    )
    state = world.state
    state["groups"] = [g for g in state["groups"] if g != app_group]
    for key in ("sites", "topics", "system_topics", "role_assignments"):
        state[key] = {
            i: v
            for i, v in state[key].items()
            if not (i.startswith(app_group + "/") or low(v.get("scope", "")).startswith(app_group + "/"))
        }
    return 0


def azd(world: World, argv: list[str]) -> int:
    env = os.environ["AZURE_ENV_NAME"]
    project = Path.cwd()
    words, _ = parse(argv)
    if words[:2] == ["env", "set"]:
        env_values(world, env)[words[2]] = words[3]
        return 0
    if words[:2] == ["env", "get-value"]:
        print(env_values(world, env).get(words[2], ""))
        return 0
    if words == ["provision"]:
        return provision(world, project, env)
    if words == ["deploy"]:
        return deploy_code(world, project, env)
    if words == ["up"]:
        return provision(world, project, env) or deploy_code(world, project, env)
    if words == ["down"]:
        return down(world, project, env)
    print(f"fake azd does not know `azd {' '.join(argv)}`", file=sys.stderr)
    return 2


def main(tool: str, argv: list[str]) -> int:
    record(tool, argv)
    world = World(Path(os.environ["FAKE_AZURE_STATE"]))
    try:
        if tool == "az":
            out = az(world, argv)
            if out:
                print(out)
            code = 0
        else:
            code = azd(world, argv)
    except Refused as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        code = exc.code
    world.save()
    return code
