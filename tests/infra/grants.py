"""The ARM role assignments infra/ makes for the app, derived from pycep's parse of the Bicep.

A small evaluator of the expressions main.bicep uses for parameters, variables and module loops (literals,
references, `${...}` interpolation, union(), empty(), conditionals, subscription()), enough to expand the
role-assignment modules for given parameter values into {scope: actions}. pycep writes identifiers and
string literals alike as strings: a string that names a parameter, variable or loop item is a reference.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

ROLE_DEFINITION = "modules/role-definition.bicep"
ASSIGNMENT_MODULES = {"modules/roles-resource-group.bicep", "modules/roles-subscription.bicep"}
APP_IDENTITY = "identity"  # the module whose outputs.principalId is the app's identity
_INTERPOLATION = re.compile(r"\$\{([^}]*)\}")


class Evaluator:
    def __init__(self, template: dict[str, Any], parameters: dict[str, Any], subscription_id: str) -> None:
        self.template = template
        self.subscription_id = subscription_id
        self.values: dict[str, Any] = {}
        for name, declared in (template.get("parameters") or {}).items():
            if name in parameters:
                value = parameters[name]
                # azd passes every `${VAR}` as a string and ARM converts it to the declared type.
                if declared.get("type") == "bool" and isinstance(value, str):
                    value = value.strip().lower() == "true"
                self.values[name] = value
            elif "default" in declared:
                self.values[name] = declared["default"]
        self.variables = {k: v["value"] for k, v in (template.get("variables") or {}).items()}

    def value(self, node: Any, scope: dict[str, Any] | None = None) -> Any:
        scope = scope or {}
        if isinstance(node, str):
            return self._name(node, scope)
        if isinstance(node, list):
            return [self.value(item, scope) for item in node]
        if isinstance(node, dict):
            if "loop_type" in node:
                detail = node["loop_type"]["detail"]
                items = self.value(detail["array_name"], scope)
                return [self.value(node["config"], {**scope, detail["item_name"]: i}) for i in items]
            if "function" in node:
                return self._function(node["function"], scope)
            if "operator" in node:
                return self._operator(node["operator"], scope)
            return {k: self.value(v, scope) for k, v in node.items()}
        return node

    def _name(self, text: str, scope: dict[str, Any]) -> Any:
        if text in scope:
            return scope[text]
        if text in self.values:
            return (
                self.value(self.values[text]) if not isinstance(self.values[text], str) else self.values[text]
            )
        if text in self.variables:
            return self.value(self.variables[text])
        return _INTERPOLATION.sub(lambda m: str(self._expression(m.group(1), scope)), text)

    def _expression(self, text: str, scope: dict[str, Any]) -> Any:
        text = text.strip()
        if text == "subscription().id":
            return f"/subscriptions/{self.subscription_id}"
        if text == "subscription().subscriptionId":
            return self.subscription_id
        return self._name(text, scope)

    def _function(self, function: dict[str, Any], scope: dict[str, Any]) -> Any:
        kind, args = function["type"], function.get("parameters") or {}
        if kind == "union":
            out: list[Any] = []
            for key in sorted(args):
                for item in self.value(args[key], scope):
                    if item not in out:
                        out.append(item)
            return out
        if kind == "empty":
            return len(self.value(args["item_to_test"], scope)) == 0
        if kind == "subscription":
            given = args.get("subscription_id")
            subscription = self.value(given, scope) if given else self.subscription_id
            prop = function.get("property_name")
            return {"id": f"/subscriptions/{subscription}", "subscriptionId": subscription}.get(
                prop, ("subscription", subscription)
            )
        if kind == "resource_group":
            given = args.get("subscription_id")
            subscription = self.value(given, scope) if given else self.subscription_id
            return ("resource_group", subscription, self.value(args["resource_group_name"], scope))
        raise NotImplementedError(f"function {kind} is not evaluated here")

    def _operator(self, operator: dict[str, Any], scope: dict[str, Any]) -> Any:
        kind, operands = operator["type"], operator["operands"]
        if kind == "conditional":
            chosen = "true_value" if self.value(operands["condition"], scope) else "false_value"
            return self.value(operands[chosen], scope)
        if kind == "not":
            return not self.value(operands["bool_value"], scope)
        if kind == "property_accessor":
            return (operands["operand_1"], operands["operand_2"])
        raise NotImplementedError(f"operator {kind} is not evaluated here")


def _accessor_root(node: Any) -> str | None:
    if isinstance(node, dict) and node.get("operator", {}).get("type") == "property_accessor":
        return str(node["operator"]["operands"]["operand_1"])
    return None


def _body(declaration: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None, Any]:
    """(inner config, loop detail or None, condition or None) of a module declaration."""
    config = declaration["config"]
    loop, condition = None, None
    while (
        isinstance(config, dict) and "config" in config and ("loop_type" in config or "condition" in config)
    ):
        loop = config.get("loop_type") or loop
        condition = config.get("condition") or condition
        config = config["config"]
    return config, loop, condition


def roles(template: dict[str, Any], evaluator: Evaluator) -> dict[str, dict[str, Any]]:
    """The custom roles main.bicep defines: module name -> {actions, assignable, deployed}."""
    out = {}
    for name, module in (template.get("modules") or {}).items():
        if module["detail"]["path"] != ROLE_DEFINITION:
            continue
        config, _, condition = _body(module)
        params = config["params"]
        out[name] = {
            "actions": evaluator.value(params["actions"]),
            "assignable": {s.lower() for s in evaluator.value(params["assignableScopes"])},
            "deployed": condition is None or bool(evaluator.value(condition)),
        }
    return out


def app_grants(template: dict[str, Any], parameters: dict[str, Any], subscription_id: str) -> dict[str, Any]:
    """{"grants": {scope: sorted actions}, "roles": ..., "problems": [...]} for the app's identity."""
    evaluator = Evaluator(template, parameters, subscription_id)
    defined = roles(template, evaluator)
    grants: dict[str, set[str]] = {}
    problems: list[str] = []
    assigned_at: dict[str, set[str]] = {name: set() for name in defined}
    for name, module in (template.get("modules") or {}).items():
        if module["detail"]["path"] not in ASSIGNMENT_MODULES:
            continue
        config, loop, _ = _body(module)
        items = [None]
        item_name = None
        if loop is not None:
            item_name = loop["detail"]["item_name"]
            items = evaluator.value(loop["detail"]["array_name"])
        for item in items:
            scope_vars = {item_name: item} if item_name else {}
            where = evaluator.value(config.get("scope"), scope_vars)
            if isinstance(where, tuple) and where[0] == "resource_group":
                scope = f"/subscriptions/{where[1]}/resourceGroups/{where[2]}"
            elif isinstance(where, tuple) and where[0] == "subscription":
                scope = f"/subscriptions/{where[1]}"
            else:
                problems.append(f"{name}: scope {where!r} not understood")
                continue
            for assignment in config["params"]["roleAssignments"]:
                if _accessor_root(assignment["principalId"]) != APP_IDENTITY:
                    continue
                role = _accessor_root(assignment["roleDefinitionId"])
                if role not in defined:
                    problems.append(f"{name}: role {role!r} is not a custom role of main.bicep")
                    continue
                if not defined[role]["deployed"]:
                    problems.append(f"{name}: role {role} is assigned but not deployed")
                grants.setdefault(scope.lower(), set()).update(defined[role]["actions"])
                assigned_at[role].add(scope.lower())
    for role, info in defined.items():
        if info["deployed"] and info["assignable"] != assigned_at[role]:
            problems.append(
                f"role {role} is assignable at {sorted(info['assignable'])} but assigned at "
                f"{sorted(assigned_at[role])}"
            )
    return {"grants": {s: sorted(a) for s, a in grants.items()}, "roles": defined, "problems": problems}


def parameters_file(path: Path, environment: dict[str, str]) -> dict[str, Any]:
    """main.parameters.json with azd's `${VAR}` / `${VAR=default}` substitution from `environment`."""

    def substitute(match: re.Match[str]) -> str:
        name, _, default = match.group(1).partition("=")
        return environment.get(name, default)

    text = re.sub(r"\$\{([^}]*)\}", substitute, path.read_text(encoding="utf-8"))
    return {k: v["value"] for k, v in json.loads(text)["parameters"].items()}
