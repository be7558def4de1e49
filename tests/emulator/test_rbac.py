"""The emulator's RBAC: actions named as the provider operations lists name them, checked at the request's
scope or above (case-insensitive, `*` wildcards), ARM's AuthorizationFailed text, principals by token."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.emulator.conftest import (
    RG,
    SUB,
    Arm,
    advance,
    gallery_path,
    image_body,
    make_image,
    version_body,
)
from tests.harness.services import Emulator

OTHER_SUB = "00000000-0000-0000-0000-0000000000aa"
RG_SCOPE = f"/subscriptions/{SUB}/resourceGroups/{RG}"
TOKEN = "test-token"  # what the Arm helper sends
GALLERY_BODY = {"location": "westeurope", "properties": {}}


def grant(emulator: Emulator, *assignments: tuple[str, list[str]], principal: str | None = None) -> None:
    emulator.set_rbac([{"scope": s, "actions": a} for s, a in assignments], principal)


def message(answer: Any) -> str:
    return str(answer.body["error"]["message"])


def test_off_by_default_and_a_reset_turns_it_off(emulator: Emulator, arm: Arm) -> None:
    assert emulator.rbac() == {"assignments": None, "principal": None, "denied": 0}
    grant(emulator, (RG_SCOPE, ["Microsoft.Compute/galleries/images/read"]))
    assert arm.call("GET", gallery_path("g")).status == 403
    emulator.reset()
    assert emulator.rbac()["assignments"] is None
    assert arm.call("GET", gallery_path("g")).status == 404


def test_a_missing_action_is_403_with_arms_message_naming_action_and_scope(
    emulator: Emulator, arm: Arm
) -> None:
    grant(emulator, (RG_SCOPE, ["Microsoft.Compute/galleries/read"]))

    answer = arm.call("PUT", gallery_path("g"), {"location": "westeurope", "properties": {}})

    assert answer.status == 403 and answer.code == "AuthorizationFailed"
    text = message(answer)
    assert text.startswith("The client '") and "' with object id '" in text
    assert (
        "does not have authorization to perform action 'Microsoft.Compute/galleries/write' over scope "
        f"'{gallery_path('g')}' or the scope is invalid. If access was recently granted, please refresh "
        "your credentials." in text
    )
    assert TOKEN not in text  # the principal is named by an id derived from the token, never the token
    assert emulator.rbac()["denied"] == 1


def test_a_grant_covers_its_scope_and_everything_below_it_case_insensitively(
    emulator: Emulator, arm: Arm
) -> None:
    make_image(arm, "gal", "img")
    grant(
        emulator,
        (RG_SCOPE.upper().replace("SUBSCRIPTIONS", "subscriptions"), ["microsoft.compute/galleries/*/read"]),
    )
    assert arm.call("GET", gallery_path("gal") + "/images/img").status == 200
    assert arm.call("GET", gallery_path("gal") + "/images").status == 200
    # `galleries/*/read` does not match `galleries/read`: the wildcard needs the segment in between.
    assert arm.call("GET", gallery_path("gal")).status == 403


KEYS_SCOPE = f"/subscriptions/{SUB}/resourceGroups/rg-keys"
DES_ID = f"{KEYS_SCOPE}/providers/Microsoft.Compute/diskEncryptionSets/des-west"
VERSION_ACTIONS = ["Microsoft.Compute/galleries/images/versions/*"]


def encrypted_version_body() -> dict[str, Any]:
    body = version_body("westeurope")
    region = body["properties"]["publishingProfile"]["targetRegions"][0]
    region["encryption"] = {
        "osDiskImage": {"diskEncryptionSetId": DES_ID},
        "dataDiskImages": [{"lun": 0, "diskEncryptionSetId": DES_ID}],
    }
    return body


def test_a_write_naming_a_disk_encryption_set_needs_its_read_as_a_linked_scope(
    emulator: Emulator, arm: Arm
) -> None:
    image = make_image(arm, "gal", "img")
    grant(emulator, (RG_SCOPE, VERSION_ACTIONS))

    answer = arm.call("PUT", f"{image}/versions/1.0.0", encrypted_version_body())

    assert answer.status == 403 and answer.code == "LinkedAuthorizationFailed"
    text = message(answer)
    assert (
        "has permission to perform action 'Microsoft.Compute/galleries/images/versions/write' on scope "
        f"'{image}/versions/1.0.0'; however, it does not have permission to perform action(s) "
        f"'Microsoft.Compute/diskEncryptionSets/read' on the linked scope(s) '{DES_ID}' (respectively) or "
        "the linked scope(s) are invalid." in text
    )
    assert TOKEN not in text and emulator.rbac()["denied"] == 1
    assert arm.call("GET", f"{image}/versions/1.0.0").status == 404, "nothing was created"

    grant(emulator, (RG_SCOPE, VERSION_ACTIONS), (KEYS_SCOPE, ["Microsoft.Compute/diskEncryptionSets/read"]))
    assert arm.call("PUT", f"{image}/versions/1.0.0", encrypted_version_body()).status in (200, 201)


CVM_SCOPE = f"/subscriptions/{SUB}/resourceGroups/rg-cvm-keys"
CVM_DES_ID = f"{CVM_SCOPE}/providers/Microsoft.Compute/diskEncryptionSets/des-cvm"
KEYS_READ = (KEYS_SCOPE, ["Microsoft.Compute/diskEncryptionSets/read"])


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
def test_every_set_of_the_spec_shape_is_a_linked_scope(emulator: Emulator, arm: Arm, method: str) -> None:
    """EncryptionImages names sets beyond `diskEncryptionSetId`: a confidential VM's
    `securityProfile.secureVMDiskEncryptionSetId`, and the encryption of `targetExtendedLocations`."""
    image = make_image(arm, "gal", "img")
    body = encrypted_version_body()
    body["properties"]["publishingProfile"]["targetRegions"][0]["encryption"]["osDiskImage"][
        "securityProfile"
    ] = {"confidentialVMEncryptionType": "EncryptedWithCmk", "secureVMDiskEncryptionSetId": CVM_DES_ID}
    edge_des = f"{CVM_SCOPE}/providers/Microsoft.Compute/diskEncryptionSets/des-edge"
    body["properties"]["publishingProfile"]["targetExtendedLocations"] = [
        {
            "name": "westus",
            "extendedLocation": {"name": "microsoftlosangeles1", "type": "EdgeZone"},
            "encryption": {"osDiskImage": {"diskEncryptionSetId": edge_des}},
        }
    ]
    if method == "PATCH":
        created = arm.call("PUT", f"{image}/versions/1.0.0", encrypted_version_body())
        assert created.status in (200, 201), created.body
        advance(emulator, 61)
        body = {"properties": {"publishingProfile": body["properties"]["publishingProfile"]}}
    grant(emulator, (RG_SCOPE, VERSION_ACTIONS), KEYS_READ)

    answer = arm.call(method, f"{image}/versions/1.0.0", body)

    assert answer.status == 403 and answer.code == "LinkedAuthorizationFailed", answer.body
    text = message(answer)
    assert f"'{CVM_DES_ID}'" in text and f"'{edge_des}'" in text and f"'{DES_ID}'" not in text

    grant(emulator, (RG_SCOPE, VERSION_ACTIONS), KEYS_READ, (CVM_SCOPE, [KEYS_READ[1][0]]))
    assert arm.call(method, f"{image}/versions/1.0.0", body).status != 403


def test_a_write_without_encryption_is_not_linked_to_anything(emulator: Emulator, arm: Arm) -> None:
    image = make_image(arm, "gal", "img")
    grant(emulator, (RG_SCOPE, VERSION_ACTIONS))
    assert arm.call("PUT", f"{image}/versions/1.0.0", version_body("westeurope")).status in (200, 201)


def test_a_resource_group_grant_does_not_cover_a_subscription_wide_list(emulator: Emulator, arm: Arm) -> None:
    grant(emulator, (RG_SCOPE, ["Microsoft.Compute/virtualMachines/read"]))

    in_group = arm.call(
        "GET", f"{RG_SCOPE}/providers/Microsoft.Compute/virtualMachines", api_version="2025-04-01"
    )
    everywhere = arm.call(
        "GET", f"/subscriptions/{SUB}/providers/Microsoft.Compute/virtualMachines", api_version="2025-04-01"
    )

    assert in_group.status == 200
    assert everywhere.status == 403
    # A list names the path without its collection type (as ARM's messages for lists do).
    assert f"over scope '/subscriptions/{SUB}/providers/Microsoft.Compute'" in message(everywhere)
    assert "'Microsoft.Compute/virtualMachines/read'" in message(everywhere)


def test_a_grant_in_another_subscription_does_not_count(emulator: Emulator, arm: Arm) -> None:
    grant(emulator, (f"/subscriptions/{OTHER_SUB}", ["*"]))
    assert arm.call("GET", gallery_path("g")).status == 403
    grant(emulator, (f"/subscriptions/{SUB}", ["*"]))
    assert arm.call("GET", gallery_path("g")).status == 404


def test_post_actions_and_operation_status_have_their_own_names(emulator: Emulator, arm: Arm) -> None:
    make_image(arm, "gal", "img")
    answer = arm.call("PUT", gallery_path("gal") + "/images/img/versions/1.0.0", version_body())
    status_url = answer.headers["azure-asyncoperation"]
    template = f"{RG_SCOPE}/providers/Microsoft.VirtualMachineImages/imageTemplates/t1"
    grant(emulator, (RG_SCOPE, ["Microsoft.Compute/galleries/images/versions/read"]))

    polled = arm.call("GET", status_url)
    run = arm.call("POST", f"{template}/run", api_version="2024-02-01")

    assert polled.status == 403
    assert f"'Microsoft.Compute/locations/capsOperations/read' over scope '/subscriptions/{SUB}'" in message(
        polled
    )
    assert run.status == 403
    assert f"'Microsoft.VirtualMachineImages/imageTemplates/run/action' over scope '{template}'" in message(
        run
    )

    grant(
        emulator,
        (f"/subscriptions/{SUB}", ["Microsoft.Compute/locations/capsOperations/read"]),
        (RG_SCOPE, ["Microsoft.VirtualMachineImages/imageTemplates/run/action"]),
    )
    assert arm.call("GET", status_url).status == 200
    assert arm.call("POST", f"{template}/run", api_version="2024-02-01").status == 404  # allowed; no template


def test_assignments_bind_only_the_named_principal(emulator: Emulator, arm: Arm) -> None:
    grant(emulator, (RG_SCOPE, ["Microsoft.Compute/galleries/read"]), principal="app-token")

    as_admin = arm.call("PUT", gallery_path("g"), {"location": "westeurope", "properties": {}})
    as_app = arm.call(
        "PUT",
        gallery_path("g2"),
        {"location": "westeurope", "properties": {}},
        headers={"Authorization": "Bearer app-token"},
    )

    assert as_admin.status in (200, 201)
    assert as_app.status == 403
    assert arm.call("GET", gallery_path("g"), headers={"Authorization": "Bearer app-token"}).status == 200
    assert emulator.rbac()["principal"] == "app-token"


def test_control_endpoints_and_the_topic_are_never_checked(emulator: Emulator, arm: Arm) -> None:
    grant(emulator, (RG_SCOPE, []))
    assert emulator.stats()["by_method"]["GET"] == 0
    answer = arm.call("POST", "/api/events", [], api_version="2018-01-01", headers={"aeg-sas-key": "k"})
    assert answer.status != 403


def test_null_assignments_turn_it_off(emulator: Emulator, arm: Arm) -> None:
    grant(emulator, (RG_SCOPE, []))
    emulator.set_rbac(None)
    assert emulator.rbac()["assignments"] is None
    assert arm.call("PUT", gallery_path("g"), {"location": "westeurope", "properties": {}}).status in (
        200,
        201,
    )


@pytest.mark.parametrize(
    "document",
    [
        {"scope": "/subscriptions/x", "actions": []},
        {"assignments": "all"},
        {"assignments": [{"scope": "rg-images", "actions": ["*"]}]},
        {"assignments": [{"scope": "/subscriptions/x", "actions": "*"}]},
        {"assignments": [], "principal": ""},
    ],
    ids=["no-assignments-key", "not-a-list", "relative-scope", "actions-not-a-list", "empty-principal"],
)
def test_a_bad_document_is_400_and_changes_nothing(emulator: Emulator, arm: Arm, document: Any) -> None:
    answer = arm.call("POST", "/_emulator/rbac", document, api_version=None)
    assert answer.status == 400 and answer.code == "InvalidRequestContent"
    assert emulator.rbac()["assignments"] is None


def test_rbac_file_on_the_command_line(tmp_path: Path, extra_emulator: Callable[..., Emulator]) -> None:
    path = tmp_path / "rbac.json"
    path.write_text(json.dumps({"assignments": [{"scope": RG_SCOPE, "actions": ["Microsoft.Compute/*"]}]}))
    emu = extra_emulator("--rbac", str(path))
    arm = Arm(emu)

    assert arm.call("PUT", gallery_path("g"), {"location": "westeurope", "properties": {}}).status in (
        200,
        201,
    )
    assert arm.call("GET", f"/subscriptions/{SUB}/providers/Microsoft.Compute/galleries").status == 403
    emu.reset()  # a reset restores the start-up document
    assert emu.rbac()["assignments"] == [{"scope": RG_SCOPE, "actions": ["Microsoft.Compute/*"]}]


def test_every_action_the_app_is_granted_is_a_real_operation_name(reference_dir: Path) -> None:
    from lifecycle.permissions import ACTION_ORDER

    names = {
        op["name"]
        for op in json.loads((reference_dir / "rbac" / "provider-operations.json").read_text())["operations"]
    }
    # Microsoft.Resources operations are not in that Compute extract: the Tags API's write is the action the
    # Tag Contributor role grants (`Microsoft.Resources/tags/*`, learn.microsoft.com/azure/
    # role-based-access-control/built-in-roles/management-and-governance#tag-contributor).
    names |= {"Microsoft.Resources/tags/write"}
    assert set(ACTION_ORDER) <= names, sorted(set(ACTION_ORDER) - names)


_ = image_body  # keep the helper import for readers of the fixtures
