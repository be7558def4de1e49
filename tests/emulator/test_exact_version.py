"""`exactVersion`: machines built from an image definition (`latest`) report the version they got, resolved
when the VM was created or the instance took its model (computeExamples/
VirtualMachineScaleSetVM_List_WithResiliencyView.json), by the highest version not excluded from `latest`
and replicated in the machine's region."""

from __future__ import annotations

from typing import Any

import pytest

from tests.emulator.conftest import RG, SUB, Arm, advance, make_image, version_body

pytestmark = pytest.mark.integration
VM_API = "2025-11-01"
PROVIDER = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Compute"
VMSS = f"{PROVIDER}/virtualMachineScaleSets/web"


def publish(arm: Arm, image: str, name: str, regions: list[str], **publishing: Any) -> None:
    body = version_body("westeurope", regions)
    body["properties"]["publishingProfile"].update(publishing)
    answer = arm.call("PUT", f"{image}/versions/{name}", body)
    assert answer.status in (200, 201), answer.body
    advance(arm.emulator, 3600)


def vm(arm: Arm, name: str, reference: dict[str, str], location: str = "westeurope") -> dict[str, Any]:
    body = {"location": location, "properties": {"storageProfile": {"imageReference": reference}}}
    answer = arm.call("PUT", f"{PROVIDER}/virtualMachines/{name}", body, api_version=VM_API)
    assert answer.status in (200, 201), answer.body
    return dict(answer.body["properties"]["storageProfile"]["imageReference"])


def scale_set(reference: dict[str, str], capacity: int, mode: str = "Manual") -> dict[str, Any]:
    return {
        "location": "westeurope",
        "sku": {"name": "Standard_D2s_v5", "capacity": capacity},
        "properties": {
            "upgradePolicy": {"mode": mode},
            "virtualMachineProfile": {"storageProfile": {"imageReference": reference}},
        },
    }


def instances(arm: Arm) -> list[tuple[bool, str | None]]:
    listed = arm.call("GET", f"{VMSS}/virtualMachines", api_version=VM_API).body["value"]
    return [
        (
            i["properties"]["latestModelApplied"],
            i["properties"]["storageProfile"]["imageReference"].get("exactVersion"),
        )
        for i in listed
    ]


def test_a_vm_on_latest_reports_the_highest_version_it_got_and_keeps_it(arm: Arm) -> None:
    image = make_image(arm)
    publish(arm, image, "1.0.0", ["westeurope"])
    publish(arm, image, "1.2.0", ["westeurope"])
    publish(arm, image, "1.10.0", ["westeurope"], excludeFromLatest=True)
    body = version_body("westeurope", ["westeurope", "eastus"])
    body["properties"]["publishingProfile"]["targetRegions"][0]["excludeFromLatest"] = True
    answer = arm.call("PUT", f"{image}/versions/1.3.0", body)
    assert answer.status in (200, 201), answer.body
    advance(arm.emulator, 3600)

    assert vm(arm, "a", {"id": image, "exactVersion": "9.9.9"})["exactVersion"] == "1.2.0"
    assert vm(arm, "b", {"id": f"{image}/versions/latest"}, "eastus")["exactVersion"] == "1.3.0"
    assert "exactVersion" not in vm(arm, "c", {"id": f"{image}/versions/1.0.0"})
    publish(arm, image, "2.0.0", ["westeurope"])
    # An update that keeps the reference keeps the version the disk was made from.
    assert vm(arm, "a", {"id": image})["exactVersion"] == "1.2.0"
    assert vm(arm, "d", {"id": image})["exactVersion"] == "2.0.0"


def test_a_version_still_replicating_in_the_region_is_not_latest_there(arm: Arm) -> None:
    image = make_image(arm)
    publish(arm, image, "1.0.0", ["westeurope"])
    answer = arm.call("PUT", f"{image}/versions/1.1.0", version_body("westeurope", ["westeurope"]))
    assert answer.status in (200, 201)
    assert vm(arm, "a", {"id": image})["exactVersion"] == "1.0.0"


def test_scale_set_instances_resolve_latest_when_they_take_their_model(arm: Arm) -> None:
    image = make_image(arm)
    publish(arm, image, "1.0.0", ["westeurope"])
    arm.call("PUT", VMSS, scale_set({"id": image}, 2), api_version=VM_API)
    assert instances(arm) == [(True, "1.0.0"), (True, "1.0.0")]
    model = arm.call("GET", VMSS, api_version=VM_API).body
    assert (
        "exactVersion" not in model["properties"]["virtualMachineProfile"]["storageProfile"]["imageReference"]
    )

    publish(arm, image, "1.1.0", ["westeurope"])
    # Scaling out: the new instance is built now, from what latest means now; the model is unchanged, so
    # the older instances still have the latest model, on the older version.
    arm.call("PUT", VMSS, scale_set({"id": image}, 3), api_version=VM_API)
    assert instances(arm) == [(True, "1.0.0"), (True, "1.0.0"), (True, "1.1.0")]
    upgrade = arm.call("POST", f"{VMSS}/manualupgrade", {"instanceIds": ["0"]}, api_version=VM_API)
    assert upgrade.status == 202
    assert instances(arm)[0] == (True, "1.1.0")


def test_shared_and_community_ids_on_latest_resolve_through_the_gallery_names(arm: Arm) -> None:
    image = make_image(arm, gallery="golden")
    gallery = image.rsplit("/images/", 1)[0]
    info = {
        "publisherUri": "https://c.example",
        "publisherContact": "a@c.example",
        "eula": "e",
        "publicNamePrefix": "contoso",
    }
    arm.wait(
        arm.call(
            "PUT",
            gallery,
            {
                "location": "westeurope",
                "properties": {"sharingProfile": {"permissions": "Community", "communityGalleryInfo": info}},
            },
        )
    )
    [public] = arm.call("GET", gallery).body["properties"]["sharingProfile"]["communityGalleryInfo"][
        "publicNames"
    ]
    publish(arm, image, "1.0.0", ["westeurope"])

    shared = vm(
        arm, "s", {"sharedGalleryImageId": f"/SharedGalleries/{SUB}-GOLDEN/Images/img/Versions/latest"}
    )
    community = vm(arm, "c", {"communityGalleryImageId": f"/communitygalleries/{public.upper()}/Images/img"})
    other = vm(arm, "o", {"sharedGalleryImageId": "/SharedGalleries/elsewhere/Images/img/Versions/latest"})

    assert shared["exactVersion"] == "1.0.0" and community["exactVersion"] == "1.0.0"
    assert "exactVersion" not in other
