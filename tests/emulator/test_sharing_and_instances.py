"""The emulator's sharing and in-use models over plain HTTPS: gallery sharingProfile and `share`, image
references by shared and community id, and scale-set instances with their own model."""

from __future__ import annotations

from typing import Any

import pytest

from tests.emulator.conftest import RG, SUB, Arm

pytestmark = pytest.mark.integration
VM_API = "2025-11-01"
PROVIDER = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Compute"
GALLERY = f"{PROVIDER}/galleries/golden"
VMSS = f"{PROVIDER}/virtualMachineScaleSets/web"
COMMUNITY = {"publisherUri": "https://c.example", "publisherContact": "a@c.example", "eula": "e"}


def put_gallery(arm: Arm, sharing: dict[str, Any]) -> Any:
    return arm.call("PUT", GALLERY, {"location": "eastus", "properties": {"sharingProfile": sharing}})


def sharing(arm: Arm) -> dict[str, Any]:
    return dict(arm.call("GET", GALLERY).body["properties"]["sharingProfile"])


def test_a_private_gallery_reports_private_and_its_unique_name(arm: Arm) -> None:
    arm.wait(arm.call("PUT", GALLERY, {"location": "eastus", "properties": {}}))
    props = arm.call("GET", GALLERY).body["properties"]
    assert props["sharingProfile"] == {"permissions": "Private"}
    assert props["identifier"]["uniqueName"] == f"{SUB}-GOLDEN"
    assert "sharingStatus" not in props


def test_a_community_gallery_gets_a_public_name_from_its_prefix_that_stays(arm: Arm) -> None:
    info = {
        **COMMUNITY,
        "publicNamePrefix": "contoso",
        "publicNames": ["forged"],
        "communityGalleryEnabled": True,
    }
    arm.wait(put_gallery(arm, {"permissions": "Community", "communityGalleryInfo": info}))
    first = sharing(arm)["communityGalleryInfo"]
    [name] = first["publicNames"]
    assert (
        name.startswith("contoso-") and first["communityGalleryEnabled"] is False
    )  # readOnly inputs ignored
    arm.wait(
        put_gallery(arm, {"permissions": "Community", "communityGalleryInfo": {**COMMUNITY, "eula": "v2"}})
    )
    assert sharing(arm)["communityGalleryInfo"]["publicNames"] == [name]
    # Sharing is an operation: 202 (cli-recordings/test_community_gallery_operations.yaml interaction 4).
    assert arm.call("POST", f"{GALLERY}/share", {"operationType": "EnableCommunity"}).status == 202
    assert sharing(arm)["communityGalleryInfo"]["communityGalleryEnabled"] is True


@pytest.mark.parametrize(
    ("profile", "target"),
    [
        ({"permissions": "Everyone"}, "sharingProfile.permissions"),
        ({"permissions": "Community", "communityGalleryInfo": COMMUNITY}, "publicNamePrefix"),
    ],
    ids=["unknown-permission", "community-without-prefix"],
)
def test_bad_sharing_profiles_are_400(arm: Arm, profile: dict[str, Any], target: str) -> None:
    answer = put_gallery(arm, profile)
    assert answer.status == 400 and answer.code == "InvalidParameter", answer.body
    assert target in answer.body["error"]["target"]


def test_share_adds_and_removes_groups_and_reset_makes_it_private(arm: Arm) -> None:
    arm.wait(put_gallery(arm, {"permissions": "Private"}))
    add = {"operationType": "Add", "groups": [{"type": "Subscriptions", "ids": ["s1", "s2"]}]}
    assert arm.call("POST", f"{GALLERY}/share", add).status == 202
    assert sharing(arm) == {
        "permissions": "Groups",
        "groups": [{"type": "Subscriptions", "ids": ["s1", "s2"]}],
    }
    remove = {"operationType": "Remove", "groups": [{"type": "Subscriptions", "ids": ["s1"]}]}
    arm.call("POST", f"{GALLERY}/share", remove)
    assert sharing(arm)["groups"] == [{"type": "Subscriptions", "ids": ["s2"]}]
    arm.call("POST", f"{GALLERY}/share", {"operationType": "Reset"})
    assert sharing(arm) == {"permissions": "Private"}
    enable = arm.call("POST", f"{GALLERY}/share", {"operationType": "EnableCommunity"})
    assert enable.status == 400


@pytest.mark.parametrize(
    "reference",
    [
        {"sharedGalleryImageId": "/SharedGalleries/x-GOLDEN/Images/ubuntu/Versions/latest"},
        {"communityGalleryImageId": "/CommunityGalleries/contoso-1/Images/ubuntu/Versions/1.0.0"},
    ],
    ids=["shared", "community"],
)
def test_vms_accept_and_echo_shared_and_community_image_ids(arm: Arm, reference: dict[str, str]) -> None:
    body = {"location": "eastus", "properties": {"storageProfile": {"imageReference": reference}}}
    answer = arm.call("PUT", f"{PROVIDER}/virtualMachines/vm1", body, api_version=VM_API)
    assert answer.status == 201
    assert answer.body["properties"]["storageProfile"]["imageReference"] == reference


def test_two_gallery_references_at_once_are_refused(arm: Arm) -> None:
    reference = {"id": f"{GALLERY}/images/ubuntu", "sharedGalleryImageId": "/SharedGalleries/x/Images/ubuntu"}
    body = {"location": "eastus", "properties": {"storageProfile": {"imageReference": reference}}}
    answer = arm.call("PUT", f"{PROVIDER}/virtualMachines/vm1", body, api_version=VM_API)
    assert answer.status == 400 and answer.code == "InvalidParameter"


def scale_set(
    image: str, capacity: int = 2, mode: str | None = None, orchestration: str | None = None
) -> Any:
    props: dict[str, Any] = {"virtualMachineProfile": {"storageProfile": {"imageReference": {"id": image}}}}
    if mode:
        props["upgradePolicy"] = {"mode": mode}
    if orchestration:
        props["orchestrationMode"] = orchestration
    return {
        "location": "eastus",
        "sku": {"name": "Standard_D2s_v5", "capacity": capacity},
        "properties": props,
    }


def instances(arm: Arm) -> list[tuple[str, bool, str]]:
    listed = arm.call("GET", f"{VMSS}/virtualMachines", api_version=VM_API).body["value"]
    return [
        (
            i["instanceId"],
            i["properties"]["latestModelApplied"],
            i["properties"]["storageProfile"]["imageReference"]["id"].rsplit("/", 1)[-1],
        )
        for i in listed
    ]


def test_manual_instances_keep_their_model_until_upgraded(arm: Arm) -> None:
    v1, v2 = f"{GALLERY}/images/ubuntu/versions/1.0.0", f"{GALLERY}/images/ubuntu/versions/2.0.0"
    arm.call("PUT", VMSS, scale_set(v1), api_version=VM_API)
    assert instances(arm) == [("0", True, "1.0.0"), ("1", True, "1.0.0")]
    arm.call("PUT", VMSS, scale_set(v2, capacity=3), api_version=VM_API)
    assert instances(arm) == [("0", False, "1.0.0"), ("1", False, "1.0.0"), ("2", True, "2.0.0")]
    upgrade = arm.call("POST", f"{VMSS}/manualupgrade", {"instanceIds": ["1"]}, api_version=VM_API)
    assert upgrade.status == 202
    assert instances(arm) == [("0", False, "1.0.0"), ("1", True, "2.0.0"), ("2", True, "2.0.0")]
    arm.call("PUT", VMSS, scale_set(v2, capacity=1), api_version=VM_API)
    assert instances(arm) == [("0", False, "1.0.0")]
    one = arm.call("GET", f"{VMSS}/virtualMachines/0", api_version=VM_API).body
    assert one["type"] == "Microsoft.Compute/virtualMachineScaleSets/virtualMachines"


def test_automatic_instances_take_the_new_model_at_once(arm: Arm) -> None:
    v1, v2 = f"{GALLERY}/images/ubuntu/versions/1.0.0", f"{GALLERY}/images/ubuntu/versions/2.0.0"
    arm.call("PUT", VMSS, scale_set(v1, mode="Automatic"), api_version=VM_API)
    arm.call("PUT", VMSS, scale_set(v2, mode="Automatic"), api_version=VM_API)
    assert instances(arm) == [("0", True, "2.0.0"), ("1", True, "2.0.0")]


def test_flexible_scale_set_lists_its_vms_by_resource_id(arm: Arm) -> None:
    arm.call("PUT", VMSS, scale_set(f"{GALLERY}/images/ubuntu", orchestration="Flexible"), api_version=VM_API)
    vm = {"location": "eastus", "properties": {"virtualMachineScaleSet": {"id": VMSS}}}
    arm.call("PUT", f"{PROVIDER}/virtualMachines/web_1", vm, api_version=VM_API)
    listed = arm.call("GET", f"{VMSS}/virtualMachines", api_version=VM_API).body["value"]
    assert [i["properties"] for i in listed] == [
        {"virtualMachineResourceId": f"{PROVIDER}/virtualMachines/web_1"}
    ]
