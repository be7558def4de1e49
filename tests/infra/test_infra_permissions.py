"""The Bicep grants the app exactly what `python -m lifecycle permissions` derives for the policy its
parameters describe: the same actions at the same scopes, nothing extra; shown to fail on a copy of infra/
with one action removed or one scope widened to the subscription."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lifecycle.permissions import derive
from lifecycle.policy import parse_policy
from tests.infra.conftest import ENVIRONMENT, INFRA, mutate, parse_bicep_tree
from tests.infra.grants import app_grants, parameters_file

SUB = "00000000-0000-0000-0000-000000000000"
BUILDER = "Microsoft.VirtualMachineImages/imageTemplates"
GALLERIES = "Microsoft.Compute/galleries"
ENCRYPTION_SETS = "Microsoft.Compute/diskEncryptionSets"
OTHER_SUB = "00000000-0000-0000-0000-0000000000c0"


def described_policy(parameters: dict[str, Any]) -> str:
    """The policy the parameters describe: a gallery in each galleries' resource group (of this
    subscription), its consumer subscriptions, and a rebake running a template in each template group."""
    gallery_groups = [
        parameters["galleryResourceGroupName"],
        *parameters.get("additionalGalleryResourceGroupNames", []),
    ]
    template_groups = [g for g in [parameters.get("imageTemplateResourceGroupName", "")] if g]
    template_groups += parameters.get("additionalImageTemplateResourceGroupNames", [])
    images: dict[str, Any] = {"*": {}}
    if str(parameters.get("rebakeOnBaseUpdate", False)).lower() == "true":
        images["*"] = {"rebake": {"on_base_update": True, "publish_event": True}}
    for index, group in enumerate(template_groups):
        template = f"/subscriptions/{SUB}/resourceGroups/{group}/providers/{BUILDER}/t{index}"
        images[f"image-{index}"] = {"rebake": {"max_age_days": 30, "image_template": template}}
    galleries = [
        {
            "id": f"/subscriptions/{SUB}/resourceGroups/{group}/providers/{GALLERIES}/g{index}",
            "images": images,
            "consumer_subscriptions": parameters.get("consumerSubscriptionIds", []) if index == 0 else [],
        }
        for index, group in enumerate(gallery_groups)
    ]
    # A disk encryption set in each encryption sets' resource group, one region each.
    regions = ["westeurope", "northeurope", "eastus", "westus", "japaneast"]
    sets = {
        regions[index]: f"/subscriptions/{SUB}/resourceGroups/{group}/providers/{ENCRYPTION_SETS}/des{index}"
        for index, group in enumerate(parameters.get("diskEncryptionSetResourceGroupNames", []))
    }
    defaults = {"replication": {"disk_encryption_sets": sets}} if sets else {}
    return json.dumps({"schema": 1, "defaults": defaults, "galleries": galleries})


def expected(parameters: dict[str, Any]) -> dict[str, list[str]]:
    document = derive(parse_policy(described_policy(parameters))).to_json()
    return {a["scope"].lower(): sorted(a["actions"]) for a in document["assignments"]}


def bicep(templates: dict[str, dict[str, Any]], parameters: dict[str, Any]) -> dict[str, Any]:
    return app_grants(templates["main.bicep"], parameters, SUB)


def test_the_parameters_file_grants_exactly_what_permissions_lists(
    templates: dict[str, dict[str, Any]],
) -> None:
    parameters = parameters_file(INFRA / "main.parameters.json", ENVIRONMENT)
    found = bicep(templates, parameters)

    assert not found["problems"], found["problems"]
    assert found["grants"] == expected(parameters)
    assert set(found["grants"]) == {
        f"/subscriptions/{SUB}",
        f"/subscriptions/{SUB}/resourcegroups/rg-images",
        f"/subscriptions/{SUB}/resourcegroups/rg-builds",
    }


def test_rebakes_on_base_updates_add_the_marketplace_read_at_the_subscription(
    templates: dict[str, dict[str, Any]],
) -> None:
    environment = {**ENVIRONMENT, "LIFECYCLE_REBAKE_ON_BASE_UPDATE": "true"}
    parameters = parameters_file(INFRA / "main.parameters.json", environment)
    found = bicep(templates, parameters)

    assert not found["problems"], found["problems"]
    assert found["grants"] == expected(parameters)
    marketplace = "Microsoft.Compute/locations/publishers/artifacttypes/offers/skus/versions/read"
    assert marketplace in found["grants"][f"/subscriptions/{SUB}"]
    assert not bicep(templates, parameters_file(INFRA / "main.parameters.json", ENVIRONMENT))["roles"][
        "baseImageRole"
    ]["deployed"]


def test_without_a_template_group_no_template_role_is_deployed(templates: dict[str, dict[str, Any]]) -> None:
    environment = {k: v for k, v in ENVIRONMENT.items() if k != "LIFECYCLE_TEMPLATE_RESOURCE_GROUP"}
    parameters = parameters_file(INFRA / "main.parameters.json", environment)
    found = bicep(templates, parameters)

    assert not found["problems"], found["problems"]
    assert found["grants"] == expected(parameters)
    assert not found["roles"]["templateRole"]["deployed"]


def test_several_groups_a_shared_template_group_and_consumer_subscriptions(
    templates: dict[str, dict[str, Any]],
) -> None:
    parameters = {
        **parameters_file(INFRA / "main.parameters.json", ENVIRONMENT),
        "additionalGalleryResourceGroupNames": ["rg-images-2"],
        "imageTemplateResourceGroupName": "rg-images",  # templates beside the gallery: one scope, both roles
        "additionalImageTemplateResourceGroupNames": ["rg-builds"],
        "consumerSubscriptionIds": [OTHER_SUB],
    }
    found = bicep(templates, parameters)

    assert not found["problems"], found["problems"]
    assert found["grants"] == expected(parameters)
    assert f"/subscriptions/{OTHER_SUB}" in found["grants"]


def test_encryption_set_groups_add_the_set_read_there(templates: dict[str, dict[str, Any]]) -> None:
    parameters = {
        **parameters_file(INFRA / "main.parameters.json", ENVIRONMENT),
        "diskEncryptionSetResourceGroupNames": ["rg-keys", "rg-images"],  # one beside the galleries
    }
    found = bicep(templates, parameters)

    assert not found["problems"], found["problems"]
    assert found["grants"] == expected(parameters)
    read = "Microsoft.Compute/diskEncryptionSets/read"
    assert found["grants"][f"/subscriptions/{SUB}/resourcegroups/rg-keys"] == [read]
    assert read in found["grants"][f"/subscriptions/{SUB}/resourcegroups/rg-images"]
    assert not bicep(templates, parameters_file(INFRA / "main.parameters.json", ENVIRONMENT))["roles"][
        "encryptionRole"
    ]["deployed"]


def _mutated(infra_copy: Callable[[], Path], old: str, new: str) -> dict[str, Any]:
    broken = infra_copy()
    mutate(broken / "main.bicep", old, new)
    parsed = parse_bicep_tree(broken)
    assert all(result["ok"] for result in parsed.values())
    return parsed["main.bicep"]["template"]


def test_a_missing_action_fails_the_comparison(infra_copy: Callable[[], Path]) -> None:
    template = _mutated(infra_copy, "  'Microsoft.Compute/galleries/images/versions/delete'\n", "")
    parameters = parameters_file(INFRA / "main.parameters.json", ENVIRONMENT)

    found = app_grants(template, parameters, SUB)

    assert found["grants"] != expected(parameters)
    group = f"/subscriptions/{SUB}/resourcegroups/rg-images"
    assert "Microsoft.Compute/galleries/images/versions/delete" not in found["grants"][group]


def test_a_scope_widened_to_the_subscription_fails_the_comparison(infra_copy: Callable[[], Path]) -> None:
    template = _mutated(
        infra_copy,
        "module galleryRoles 'modules/roles-resource-group.bicep' = [\n"
        "  for rgName in galleryResourceGroupNames: if (roleAssignmentsReady) {\n"
        "    name: 'roles-gallery-${uniqueString(rgName)}-${resourceToken}'\n"
        "    scope: resourceGroup(rgName)",
        "module galleryRoles 'modules/roles-subscription.bicep' = [\n"
        "  for rgName in galleryResourceGroupNames: if (roleAssignmentsReady) {\n"
        "    name: 'roles-gallery-${uniqueString(rgName)}-${resourceToken}'\n"
        "    scope: subscription()",
    )
    parameters = parameters_file(INFRA / "main.parameters.json", ENVIRONMENT)

    found = app_grants(template, parameters, SUB)

    assert found["grants"] != expected(parameters)
    assert "Microsoft.Compute/galleries/images/versions/write" in found["grants"][f"/subscriptions/{SUB}"]
    assert any("assignable at" in p for p in found["problems"]), found["problems"]


def test_an_extra_action_fails_the_comparison(infra_copy: Callable[[], Path]) -> None:
    template = _mutated(
        infra_copy,
        "  'Microsoft.Compute/virtualMachineScaleSets/read'\n",
        "  'Microsoft.Compute/virtualMachineScaleSets/read'\n"
        "  'Microsoft.Compute/locations/capsOperations/read'\n",
    )
    parameters = parameters_file(INFRA / "main.parameters.json", ENVIRONMENT)
    assert app_grants(template, parameters, SUB)["grants"] != expected(parameters)


@pytest.mark.parametrize(
    "variable", ["galleryActions", "inUseActions", "templateActions", "baseImageActions", "encryptionActions"]
)
def test_the_role_actions_are_literal_lists_of_real_operation_names(
    templates: dict[str, dict[str, Any]], variable: str, reference_dir: Path
) -> None:
    actions = templates["main.bicep"]["variables"][variable]["value"]
    listed = json.loads((reference_dir / "rbac" / "provider-operations.json").read_text(encoding="utf-8"))
    names = {op["name"] for op in listed["operations"]}
    # Not in that Compute extract: the Tags API's write, the action the Tag Contributor role grants
    # (`Microsoft.Resources/tags/*`, learn.microsoft.com/azure/role-based-access-control/built-in-roles).
    names |= {"Microsoft.Resources/tags/write"}
    assert actions and set(actions) <= names, set(actions) - names
