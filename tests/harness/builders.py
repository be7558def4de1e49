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
