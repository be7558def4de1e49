"""The azd hooks of the deployment: one implementation, run by the `sh` and `pwsh` wrappers beside it.

    python3 infra/hooks/azd_hooks.py preprovision|postprovision|postdeploy|predown

Standard library only (it runs before any environment of the project exists). Every `az` call names
`--subscription`: az's default subscription is not necessarily the environment's. Nothing here is
remembered between runs: each decision is computed from what exists in Azure and from the outputs of the
last deployment, which azd keeps in the environment.

- preprovision: checks the resource groups and the senders; removes the assignments (and roles) of scopes
  and features the parameters no longer name, so that the deployment can narrow a role without
  `RoleScopeBeingRemovedContainsAssignments`; finds existing resource-event system topics to reuse (Azure
  allows one per source); decides whether the event subscriptions can be made (the function exists where
  the environment points) and whether the roles' assignments can be (every role and scope already exists).
- postprovision: when the deployment left the assignments for later, waits until the roles can be seen with
  every scope, then provisions again.
- postdeploy: when the deployment made no event subscriptions, waits until the app lists on_event, then
  provisions again.
- predown: removes what the deployment placed outside the app's resource group, in every subscription it
  granted in: this environment's event subscriptions and its now unused system topics, every assignment of
  its custom roles and the roles, any other assignment of the app's identity. Never a resource group.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

INFRA = Path(__file__).resolve().parents[1]
FUNCTION_NAME = "on_event"
OWN_TOPIC_PREFIX = "evgst-galleries-"
RG_TOPIC_TYPE = "microsoft.resources.resourcegroups"
SUBSCRIPTION_TOPIC_TYPE = "microsoft.resources.subscriptions"
# Event subscriptions this deployment made before they carried the environment's token.
LEGACY_SUBSCRIPTION = re.compile(r"^gallery-versions-[a-z0-9]{13}$")

# The custom roles of main.bicep, by the start of their display name ("<title> (<env>, <token>)").
ROLE_TITLES = {
    "gallery": "Gallery lifecycle operator",
    "in_use": "Gallery lifecycle in-use reader",
    "templates": "Gallery lifecycle template runner",
    "base_images": "Gallery lifecycle base image reader",
    "encryption": "Gallery lifecycle encryption set reader",
}


class HookError(Exception):
    """A problem the user must fix; the message says what to do."""


# --- what the parameters ask for ------------------------------------------------------------------------


def azd_substitute(text: str, environment: dict[str, str]) -> str:
    """azd's substitution in main.parameters.json: `${VAR}` and `${VAR=default}`."""

    def value(match: re.Match[str]) -> str:
        name, _, default = match.group(1).partition("=")
        return environment.get(name, default) or default

    return re.sub(r"\$\{([^}]*)\}", value, text)


def load_parameters(environment: dict[str, str], infra: Path = INFRA) -> dict[str, Any]:
    """The values main.parameters.json gives main.bicep in this environment."""
    text = azd_substitute((infra / "main.parameters.json").read_text(encoding="utf-8"), environment)
    return {name: entry.get("value") for name, entry in json.loads(text)["parameters"].items()}


def _names(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [value]
    return [str(item) for item in value if str(item)]


def _union(*lists: list[str]) -> list[str]:
    out: list[str] = []
    for items in lists:
        for item in items:
            if item.lower() not in {o.lower() for o in out}:
                out.append(item)
    return out


def _true(value: Any) -> bool:
    return str(value).strip().lower() == "true"


def desired_role_scopes(parameters: dict[str, Any], subscription: str) -> dict[str, set[str]]:
    """Per custom role of main.bicep, the scopes it is assignable (and assigned) at, lowercased; an empty set
    for a role the parameters turn off. The same rules as main.bicep (tests compare the two)."""
    sub = f"/subscriptions/{subscription}"
    galleries = _union(
        _names(parameters.get("galleryResourceGroupName")),
        _names(parameters.get("additionalGalleryResourceGroupNames")),
    )
    templates = _union(
        _names(parameters.get("imageTemplateResourceGroupName")),
        _names(parameters.get("additionalImageTemplateResourceGroupNames")),
    )
    encryption = _names(parameters.get("diskEncryptionSetResourceGroupNames"))
    consumers = _names(parameters.get("consumerSubscriptionIds"))
    scopes = {
        "gallery": [f"{sub}/resourceGroups/{g}" for g in galleries],
        "in_use": [f"/subscriptions/{s}" for s in _union([subscription], consumers)],
        "templates": [f"{sub}/resourceGroups/{g}" for g in templates],
        "base_images": [sub] if _true(parameters.get("rebakeOnBaseUpdate")) else [],
        "encryption": [f"{sub}/resourceGroups/{g}" for g in encryption],
    }
    return {kind: {s.lower() for s in values} for kind, values in scopes.items()}


def resource_groups_to_check(parameters: dict[str, Any]) -> list[tuple[str, str]]:
    """(group, where it is named) for every existing group the deployment assigns roles in."""
    named = [
        ("galleryResourceGroupName", "LIFECYCLE_GALLERY_RESOURCE_GROUP"),
        ("additionalGalleryResourceGroupNames", "additionalGalleryResourceGroupNames"),
        ("imageTemplateResourceGroupName", "LIFECYCLE_TEMPLATE_RESOURCE_GROUP"),
        ("additionalImageTemplateResourceGroupNames", "additionalImageTemplateResourceGroupNames"),
        ("diskEncryptionSetResourceGroupNames", "diskEncryptionSetResourceGroupNames"),
    ]
    out: list[tuple[str, str]] = []
    for parameter, setting in named:
        for group in _names(parameters.get(parameter)):
            if group.lower() not in {g.lower() for g, _ in out}:
                out.append((group, setting))
    return out


def shared_senders(parameters: dict[str, Any]) -> dict[str, list[str]]:
    """Principals listed on more than one sender topic: {principal: [topics]}. A principal that may send
    builds and approvals could approve its own build; one on two build topics could pass for another."""
    topics: dict[str, list[str]] = {}
    for system in parameters.get("buildSystems") or []:
        for principal in _names(system.get("senderPrincipalIds")):
            topics.setdefault(principal.lower(), []).append(f"build system {system.get('name')!r}")
    for principal in _names(parameters.get("approverPrincipalIds")):
        topics.setdefault(principal.lower(), []).append("approvers")
    return {principal: where for principal, where in topics.items() if len(where) > 1}


# --- the Azure CLI and azd -------------------------------------------------------------------------------


def subscription_of(resource_id: str) -> str:
    parts = resource_id.strip("/").split("/")
    if len(parts) < 2 or parts[0].lower() != "subscriptions":
        raise HookError(f"not a resource id: {resource_id!r}")
    return parts[1]


def _segment(resource_id: str, name: str) -> str:
    parts = resource_id.strip("/").split("/")
    for index in range(0, len(parts) - 1):
        if parts[index].lower() == name.lower():
            return parts[index + 1]
    return ""


@dataclass
class Cli:
    """Runs az and azd; every az call names the subscription it is about."""

    log: list[list[str]] = field(default_factory=list)

    def az(self, subscription: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = ["az", *args, "--subscription", subscription]
        self.log.append(command)
        result = subprocess.run(_resolve(command), capture_output=True, text=True, check=False)
        if check and result.returncode != 0:
            raise HookError(f"`{' '.join(command)}` failed ({result.returncode}): {result.stderr.strip()}")
        return result

    def az_json(self, subscription: str, *args: str) -> Any:
        out = self.az(subscription, *args, "--output", "json").stdout.strip()
        return json.loads(out) if out else None

    def azd(self, *args: str, environment: dict[str, str] | None = None) -> int:
        command = ["azd", *args]
        self.log.append(command)
        env = None if environment is None else {**os.environ, **environment}
        return subprocess.run(_resolve(command), env=env, check=False).returncode

    def azd_set(self, name: str, value: str) -> None:
        if self.azd("env", "set", name, value) != 0:
            raise HookError(f"`azd env set {name}` failed")


def _resolve(command: list[str]) -> list[str]:
    """The command with its program resolved on PATH (az is az.cmd on Windows)."""
    found = shutil.which(command[0])
    if found is None:
        raise HookError(f"`{command[0]}` is not on PATH: install it (the hooks use it) and sign in.")
    return [found, *command[1:]]


# --- what exists -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Context:
    environment: dict[str, str]
    parameters: dict[str, Any]

    @property
    def subscription(self) -> str:
        value = self.environment.get("AZURE_SUBSCRIPTION_ID", "").strip()
        if not value:
            raise HookError(
                "AZURE_SUBSCRIPTION_ID is not set: select the subscription (azd env set or azd up)."
            )
        return value

    @property
    def env_name(self) -> str:
        return self.environment.get("AZURE_ENV_NAME", "")

    @property
    def token(self) -> str:
        """The resource token of the last deployment (empty before the first)."""
        return self.environment.get("LIFECYCLE_RESOURCE_TOKEN", "")

    @property
    def app_group(self) -> str:
        return str(self.parameters.get("resourceGroupName") or "") or f"rg-{self.env_name}"

    def output_list(self, name: str) -> list[str]:
        raw = self.environment.get(name, "").strip()
        if not raw:
            return []
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            return [item for item in raw.split(",") if item]
        return [str(item) for item in value] if isinstance(value, list) else []


def load_context(environment: dict[str, str] | None = None) -> Context:
    environment = dict(os.environ if environment is None else environment)
    return Context(environment, load_parameters(environment))


def _location(value: str) -> str:
    return value.replace(" ", "").lower()


def function_ready(cli: Cli, context: Context) -> bool:
    """Whether the app of the last deployment is the one this environment deploys (same subscription,
    group and location) and lists on_event: only then can Event Grid subscribe to it."""
    app_id = context.environment.get("LIFECYCLE_FUNCTION_APP_ID", "")
    name = context.environment.get("AZURE_FUNCTION_APP_NAME", "")
    group = context.environment.get("AZURE_RESOURCE_GROUP", "")
    if not app_id and name and group:  # outputs of a deployment made before LIFECYCLE_FUNCTION_APP_ID
        app_id = f"/subscriptions/{context.subscription}/resourceGroups/{group}"
        app_id += f"/providers/Microsoft.Web/sites/{name}"
    if not app_id or subscription_of(app_id).lower() != context.subscription.lower():
        return False
    if _segment(app_id, "resourceGroups").lower() != context.app_group.lower():
        return False
    shown = cli.az(
        context.subscription,
        "functionapp",
        "show",
        "--ids",
        app_id,
        "--query",
        "location",
        "--output",
        "tsv",
        check=False,
    )
    if shown.returncode != 0:
        return False
    wanted = context.environment.get("AZURE_LOCATION", "")
    if wanted and _location(shown.stdout.strip()) != _location(wanted):
        return False
    listed = cli.az(
        context.subscription,
        "functionapp",
        "function",
        "show",
        "--name",
        _segment(app_id, "sites"),
        "--resource-group",
        _segment(app_id, "resourceGroups"),
        "--function-name",
        FUNCTION_NAME,
        "--query",
        "name",
        "--output",
        "tsv",
        check=False,
    )
    return listed.returncode == 0


def role_kind(role_name: str) -> str | None:
    for kind, title in ROLE_TITLES.items():
        if role_name.startswith(f"{title} ("):
            return kind
    return None


def environment_roles(cli: Cli, context: Context, scopes: set[str]) -> list[dict[str, Any]]:
    """This environment's custom roles, found at every scope they may be assignable at: a role assignable
    only at resource groups is not listed at the subscription, so each group is asked too."""
    if not context.token:
        return []
    suffix = f"({context.env_name}, {context.token})"
    found: dict[str, dict[str, Any]] = {}
    candidates = {f"/subscriptions/{context.subscription}".lower(), *scopes}
    for scope in sorted(candidates):
        listed = (
            cli.az_json(
                subscription_of(scope),
                "role",
                "definition",
                "list",
                "--custom-role-only",
                "true",
                "--scope",
                scope,
            )
            or []
        )
        for role in listed:
            if str(role.get("roleName", "")).endswith(suffix) and role_kind(role["roleName"]):
                found.setdefault(str(role["name"]).lower(), role)
    return list(found.values())


def delete_assignments(cli: Cli, role: dict[str, Any], scope: str) -> int:
    """Every assignment of the role at exactly this scope, deleted; how many."""
    subscription = subscription_of(scope)
    listed = (
        cli.az_json(subscription, "role", "assignment", "list", "--scope", scope, "--role", str(role["name"]))
        or []
    )
    count = 0
    for assignment in listed:
        if str(assignment.get("scope", "")).lower() != scope.lower():
            continue
        print(f"Deleting the assignment of '{role['roleName']}' at {scope}.")
        cli.az(subscription, "role", "assignment", "delete", "--ids", str(assignment["id"]))
        count += 1
    return count


def delete_role(cli: Cli, role: dict[str, Any]) -> None:
    scope = str(role["assignableScopes"][0])
    print(f"Deleting the custom role '{role['roleName']}'.")
    cli.az(
        subscription_of(scope), "role", "definition", "delete", "--name", str(role["name"]), "--scope", scope
    )


def known_scopes(context: Context, desired: dict[str, set[str]]) -> set[str]:
    previous = {s.lower() for s in context.output_list("LIFECYCLE_ROLE_SCOPES")}
    return previous.union(*desired.values())


def prune_roles(cli: Cli, context: Context, desired: dict[str, set[str]]) -> list[dict[str, Any]]:
    """Removes the assignments at scopes the parameters no longer name, and the roles of features turned off
    (their assignments first): incremental deployments never delete, and a role cannot lose a scope that
    still holds an assignment. Returns the roles that remain."""
    remaining = []
    for role in environment_roles(cli, context, known_scopes(context, desired)):
        kind = role_kind(role["roleName"]) or ""
        wanted = desired.get(kind, set())
        for scope in role.get("assignableScopes", []):
            if str(scope).lower() not in wanted:
                delete_assignments(cli, role, str(scope))
        if wanted:
            remaining.append(role)
        else:
            delete_role(cli, role)
    return remaining


def roles_ready(roles: list[dict[str, Any]], desired: dict[str, set[str]]) -> bool:
    """Whether every role the deployment assigns already exists with every scope it is assigned at."""
    by_kind = {
        role_kind(r["roleName"]): {str(s).lower() for s in r.get("assignableScopes", [])} for r in roles
    }
    return all(kind in by_kind and scopes <= by_kind[kind] for kind, scopes in desired.items() if scopes)


def reusable_topics(cli: Cli, context: Context) -> list[str]:
    """Existing ARM resource-event system topics on the galleries' sources that are not this environment's
    own: Azure allows one system topic per source, so the deployment attaches to them instead."""
    own = f"{OWN_TOPIC_PREFIX}{context.token}".lower() if context.token else ""
    sub = context.subscription
    found: list[dict[str, Any]] = []
    if str(context.parameters.get("resourceEventScope") or "resourceGroup") == "subscription":
        for topic in cli.az_json(sub, "eventgrid", "system-topic", "list") or []:
            if (
                str(topic.get("topicType", "")).lower() == SUBSCRIPTION_TOPIC_TYPE
                and str(topic.get("source", "")).lower() == f"/subscriptions/{sub}".lower()
            ):
                found.append(topic)
    else:
        groups = _union(
            _names(context.parameters.get("galleryResourceGroupName")),
            _names(context.parameters.get("additionalGalleryResourceGroupNames")),
        )
        for group in groups:
            for topic in (
                cli.az_json(sub, "eventgrid", "system-topic", "list", "--resource-group", group) or []
            ):
                if str(topic.get("topicType", "")).lower() == RG_TOPIC_TYPE:
                    found.append(topic)
    reused = []
    for topic in found:
        if str(topic["name"]).lower() == own:
            continue  # this environment's own topic: the deployment keeps declaring it
        identity = str((topic.get("identity") or {}).get("type") or "")
        if "systemassigned" not in identity.lower():
            raise HookError(
                f"system topic {topic['name']} (resource group {_segment(topic['id'], 'resourceGroups')}) "
                "already carries this source's resource events and is reused, but has no system-assigned "
                "identity to write dead letters with. Give it one: az eventgrid system-topic update --name "
                f"{topic['name']} --resource-group {_segment(topic['id'], 'resourceGroups')} --subscription "
                f"{subscription_of(topic['id'])} --identity systemassigned"
            )
        print(f"Reusing the existing system topic {topic['name']} for resource events.")
        reused.append(str(topic["id"]))
    return reused


def remove_legacy(cli: Cli, context: Context) -> None:
    """What earlier versions of this deployment made and this one no longer declares: the CloudEvents builds
    topic (any pipeline could send approvals into it) and the resource-event subscriptions named without the
    environment's token."""
    if not context.token:
        return
    sub = context.subscription
    for topic in cli.az_json(sub, "eventgrid", "topic", "list", "--resource-group", context.app_group) or []:
        if str(topic.get("name", "")).lower() == f"evgt-builds-{context.token}".lower():
            print(f"Deleting the former builds topic {topic['name']} (builds now come in per sender).")
            cli.az(
                sub,
                "eventgrid",
                "topic",
                "delete",
                "--resource-group",
                context.app_group,
                "--name",
                str(topic["name"]),
            )
    for topic_id in own_topics(cli, context):
        for name in subscriptions_on(cli, topic_id) or []:
            if LEGACY_SUBSCRIPTION.match(name):
                delete_subscription(cli, topic_id, name)


def _name(resource_id: str) -> str:
    return resource_id.rstrip("/").split("/")[-1]


def own_topics(cli: Cli, context: Context) -> list[str]:
    if not context.token:
        return []
    own = f"{OWN_TOPIC_PREFIX}{context.token}".lower()
    listed = cli.az_json(context.subscription, "eventgrid", "system-topic", "list") or []
    return [str(t["id"]) for t in listed if str(t.get("name", "")).lower() == own]


def subscriptions_on(cli: Cli, topic_id: str) -> list[str] | None:
    """The event subscriptions' names on a system topic; None when the topic is gone (az exits 3 for a
    resource that is not found)."""
    result = cli.az(
        subscription_of(topic_id),
        "eventgrid",
        "system-topic",
        "event-subscription",
        "list",
        "--resource-group",
        _segment(topic_id, "resourceGroups"),
        "--system-topic-name",
        _name(topic_id),
        "--output",
        "json",
        check=False,
    )
    if result.returncode == 3:
        return None
    if result.returncode != 0:
        raise HookError(
            f"listing the event subscriptions of {_name(topic_id)} failed: {result.stderr.strip()}"
        )
    return [str(s["name"]) for s in json.loads(result.stdout or "[]")]


def delete_subscription(cli: Cli, topic_id: str, name: str) -> None:
    print(f"Deleting event subscription {name} of system topic {_name(topic_id)}.")
    cli.az(
        subscription_of(topic_id),
        "eventgrid",
        "system-topic",
        "event-subscription",
        "delete",
        "--yes",
        "--resource-group",
        _segment(topic_id, "resourceGroups"),
        "--system-topic-name",
        _name(topic_id),
        "--name",
        name,
    )


# --- the hooks -------------------------------------------------------------------------------------------


def preprovision(cli: Cli, context: Context) -> dict[str, str]:
    """Checks and clean-up before a provision; returns the settings it computed (also set with azd)."""
    if not str(context.parameters.get("galleryResourceGroupName") or "").strip():
        raise HookError(
            "LIFECYCLE_GALLERY_RESOURCE_GROUP is not set: the resource group holding the galleries the "
            "policy "
            "manages. Run: azd env set LIFECYCLE_GALLERY_RESOURCE_GROUP <resource group>"
        )
    if shutil.which("az") is None:
        raise HookError(
            "the Azure CLI (az) is needed to check that resource group "
            f"'{context.parameters['galleryResourceGroupName']}' exists; install it and run 'az login'."
        )
    sub = context.subscription
    for group, setting in resource_groups_to_check(context.parameters):
        exists = cli.az(sub, "group", "exists", "--name", group).stdout.strip()
        if exists != "true":
            raise HookError(
                f"resource group '{group}' ({setting}) does not exist in subscription {sub}. The deployment "
                f"never creates it: set {setting} to an existing resource group."
            )
    shared = shared_senders(context.parameters)
    if shared:
        listed = "; ".join(f"{p} on {', '.join(where)}" for p, where in sorted(shared.items()))
        raise HookError(
            "a principal may send on one sender topic only (a builder never approves, nor passes for "
            f"another build system): {listed}. Fix buildSystems / approverPrincipalIds in "
            "infra/main.parameters.json."
        )
    desired = desired_role_scopes(context.parameters, sub)
    remaining = prune_roles(cli, context, desired)
    remove_legacy(cli, context)
    settings = {
        "LIFECYCLE_REUSE_RESOURCE_EVENT_TOPICS": ",".join(reusable_topics(cli, context)),
        "LIFECYCLE_SUBSCRIBE_EVENTS": "true" if function_ready(cli, context) else "false",
        "LIFECYCLE_ROLES_READY": "true" if roles_ready(remaining, desired) else "false",
    }
    # azd reloads the environment after a hook runs (Azure/azure-dev#1940, "Detect and update environment
    # changes before and after hook executions"), so these reach main.parameters.json in this provision.
    for name, value in settings.items():
        cli.azd_set(name, value)
    if settings["LIFECYCLE_ROLES_READY"] == "false":
        print(
            "New custom roles or scopes: their assignments follow in a second provision, once Azure shows "
            "them."
        )
    return settings


def _wait(what: str, seconds: int, ready: Any) -> None:
    interval = max(1, int(os.environ.get("LIFECYCLE_POLL_SECONDS", "10")))
    waited = 0
    while not ready():
        if waited >= seconds:
            raise HookError(what)
        time.sleep(interval)
        waited += interval


def _provision_again(cli: Cli) -> None:
    if cli.azd("provision", "--no-prompt", environment={"LIFECYCLE_NESTED_PROVISION": "1"}) != 0:
        raise HookError("the second `azd provision` failed: see its output above, then run `azd provision`.")


def postprovision(cli: Cli, context: Context) -> None:
    if context.environment.get("LIFECYCLE_ROLE_ASSIGNMENTS_DEFERRED", "false") != "true":
        return
    if context.environment.get("LIFECYCLE_NESTED_PROVISION") == "1":
        raise HookError(
            "the custom roles' assignments were deferred again in the second provision: Azure does not show "
            "the roles yet. Run `azd provision` again in a few minutes."
        )
    desired = desired_role_scopes(context.parameters, context.subscription)
    seconds = int(context.environment.get("LIFECYCLE_ROLE_WAIT_SECONDS", "300"))
    print("Waiting until Azure shows the new custom roles with every scope...")
    _wait(
        f"the custom roles did not show every scope within {seconds}s; run `azd provision` again later "
        "(or raise LIFECYCLE_ROLE_WAIT_SECONDS).",
        seconds,
        lambda: roles_ready(environment_roles(cli, context, known_scopes(context, desired)), desired),
    )
    print("The roles are there: provisioning again to assign them.")
    _provision_again(cli)


def postdeploy(cli: Cli, context: Context) -> None:
    if context.environment.get("LIFECYCLE_EVENTS_SUBSCRIBED", "false") == "true":
        print("Event Grid subscriptions already in place for this environment.")
        return
    app = context.environment.get("AZURE_FUNCTION_APP_NAME", "")
    if not app or not context.environment.get("LIFECYCLE_FUNCTION_APP_ID"):
        raise HookError(
            "AZURE_FUNCTION_APP_NAME or LIFECYCLE_FUNCTION_APP_ID is not set: run azd provision first."
        )
    seconds = int(context.environment.get("LIFECYCLE_FUNCTION_WAIT_SECONDS", "600"))
    print(f"Waiting for function app {app} to list {FUNCTION_NAME} (up to {seconds}s)...")
    _wait(
        f"{app} did not list the function {FUNCTION_NAME} within {seconds}s, so the Event Grid subscriptions "
        "were not created. Check the deployment and the app's logs, then run 'azd hooks run postdeploy' "
        "(or raise LIFECYCLE_FUNCTION_WAIT_SECONDS).",
        seconds,
        lambda: function_ready(cli, context),
    )
    print(f"{FUNCTION_NAME} is listed: provisioning again to create the Event Grid subscriptions to it.")
    _provision_again(cli)


def predown(cli: Cli, context: Context) -> None:
    """Removes everything the deployment placed outside the app's resource group; goes on past a failure
    and reports them all at the end, so that a rerun finishes the job."""
    problems: list[str] = []

    def attempt(what: str, action: Any) -> None:
        try:
            action()
        except HookError as exc:
            problems.append(f"{what}: {exc}")

    token = context.token
    topics = _union(context.output_list("LIFECYCLE_RESOURCE_EVENT_TOPIC_IDS"), own_topics(cli, context))
    for topic_id in topics:
        attempt(f"system topic {_name(topic_id)}", lambda t=topic_id: _release_topic(cli, t, token))

    desired = desired_role_scopes(context.parameters, context.subscription)
    no_roles = {kind: set() for kind in desired}
    # Every subscription granted in: the last deployment's scopes, and those of the roles that still exist.
    subscriptions = {context.subscription.lower()}
    subscriptions |= {subscription_of(scope).lower() for scope in known_scopes(context, desired)}
    for role in environment_roles(cli, context, known_scopes(context, desired)):
        for scope in role.get("assignableScopes", []):
            subscriptions.add(subscription_of(str(scope)).lower())
    attempt("custom roles", lambda: prune_roles(cli, context, no_roles))

    principal = context.environment.get("LIFECYCLE_APP_PRINCIPAL_ID", "")
    for subscription in sorted(subscriptions):
        if principal:
            attempt(
                f"assignments in {subscription}", lambda s=subscription: _remove_principal(cli, s, principal)
            )
    if problems:
        raise HookError(
            "some of what the deployment placed could not be removed:\n  "
            + "\n  ".join(problems)
            + "\nFix the cause and run `azd down` again: what is gone stays gone."
        )


def _release_topic(cli: Cli, topic_id: str, token: str) -> None:
    names = subscriptions_on(cli, topic_id)
    if names is None:
        return  # already gone
    own_topic = _name(topic_id).lower() == f"{OWN_TOPIC_PREFIX}{token}".lower()
    left = []
    for name in names:
        if (token and name.lower().endswith(f"-{token}".lower())) or (
            own_topic and LEGACY_SUBSCRIPTION.match(name)
        ):
            delete_subscription(cli, topic_id, name)
        else:
            left.append(name)
    if not _name(topic_id).lower().startswith(OWN_TOPIC_PREFIX):
        return  # a topic someone else made: never ours to delete
    if left:
        print(
            f"Keeping system topic {_name(topic_id)}: other environments still subscribe to it "
            f"({', '.join(left)})."
        )
        return
    print(f"Deleting system topic {_name(topic_id)}.")
    cli.az(
        subscription_of(topic_id),
        "eventgrid",
        "system-topic",
        "delete",
        "--yes",
        "--resource-group",
        _segment(topic_id, "resourceGroups"),
        "--name",
        _name(topic_id),
    )


def _remove_principal(cli: Cli, subscription: str, principal: str) -> None:
    for assignment in (
        cli.az_json(subscription, "role", "assignment", "list", "--assignee", principal, "--all") or []
    ):
        print(f"Deleting role assignment {assignment['id']}.")
        cli.az(subscription, "role", "assignment", "delete", "--ids", str(assignment["id"]))


HOOKS = {
    "preprovision": preprovision,
    "postprovision": postprovision,
    "postdeploy": postdeploy,
    "predown": predown,
}


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[1] not in HOOKS:
        print(f"usage: {Path(argv[0]).name} {'|'.join(HOOKS)}", file=sys.stderr)
        return 2
    try:
        HOOKS[argv[1]](Cli(), load_context())
    except HookError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
