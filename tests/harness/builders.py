"""Request bodies the tests send through the real SDKs to set up resources on the emulator."""

from __future__ import annotations

from typing import Any


def image_template_body(
    subscription: str,
    resource_group: str,
    gallery_image_id: str,
    *,
    location: str = "eastus",
    tags: dict[str, str] | None = None,
) -> dict[str, Any]:
    """An Azure Image Builder template that bakes Ubuntu and distributes to a gallery image."""
    identity = (
        f"/subscriptions/{subscription}/resourceGroups/{resource_group}/providers/Microsoft.ManagedIdentity"
        "/userAssignedIdentities/aib"
    )
    return {
        "location": location,
        "tags": tags or {},
        "identity": {"type": "UserAssigned", "userAssignedIdentities": {identity: {}}},
        "properties": {
            "source": {
                "type": "PlatformImage",
                "publisher": "Canonical",
                "offer": "ubuntu-24_04-lts",
                "sku": "server",
                "version": "latest",
            },
            "customize": [{"type": "Shell", "name": "patch", "inline": ["sudo apt-get -y upgrade"]}],
            "distribute": [
                {
                    "type": "SharedImage",
                    "galleryImageId": gallery_image_id,
                    "runOutputName": gallery_image_id.rsplit("/", 1)[-1],
                    "replicationRegions": [location],
                }
            ],
            "vmProfile": {"vmSize": "Standard_D2s_v5"},
        },
    }


def gallery_image_body(image: str, *, location: str = "eastus") -> dict[str, Any]:
    """A generalized Linux Gen2 image definition, its identifier named after the image."""
    return {
        "location": location,
        "properties": {
            "osType": "Linux",
            "osState": "Generalized",
            "hyperVGeneration": "V2",
            "identifier": {"publisher": "contoso", "offer": image, "sku": "gen2"},
        },
    }


def _image_reference(reference: str | dict[str, str]) -> dict[str, str]:
    """An imageReference: a resource id (a gallery image or one of its versions), or the reference itself
    (`sharedGalleryImageId`, `communityGalleryImageId`)."""
    return {"id": reference} if isinstance(reference, str) else reference


def vm_body(
    reference: str | dict[str, str], *, location: str = "eastus", tags: dict[str, str] | None = None
) -> dict[str, Any]:
    """A virtual machine on a gallery image or version (`reference`, see `_image_reference`)."""
    body: dict[str, Any] = {"location": location}
    if tags is not None:
        body["tags"] = tags
    body["properties"] = {"storageProfile": {"imageReference": _image_reference(reference)}}
    return body


def scale_set_body(
    reference: str | dict[str, str],
    *,
    location: str = "eastus",
    capacity: int = 2,
    tags: dict[str, str] | None = None,
    upgrade_mode: str | None = None,
) -> dict[str, Any]:
    """A Uniform scale set of `capacity` Standard_D2s_v5 instances on a gallery image or version."""
    body: dict[str, Any] = {"location": location}
    if tags is not None:
        body["tags"] = tags
    body["sku"] = {"name": "Standard_D2s_v5", "capacity": capacity}
    properties: dict[str, Any] = {}
    if upgrade_mode is not None:
        properties["upgradePolicy"] = {"mode": upgrade_mode}
    properties["virtualMachineProfile"] = {"storageProfile": {"imageReference": _image_reference(reference)}}
    body["properties"] = properties
    return body


def community_sharing() -> dict[str, Any]:
    """A gallery's sharingProfile that shares it with the community (public names start `contoso`)."""
    return {
        "permissions": "Community",
        "communityGalleryInfo": {
            "publisherUri": "https://contoso.example",
            "publisherContact": "images@contoso.example",
            "eula": "https://contoso.example/eula",
            "publicNamePrefix": "contoso",
        },
    }
