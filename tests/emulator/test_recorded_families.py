"""Families and shapes the Azure CLI recordings hold the emulator to, over plain HTTPS: bodies by api-version
(the product's 2026-03-03 unchanged), shared- and community-gallery reads, managed images as version
sources, disk encryption sets and DiskRP's finished operations."""

from __future__ import annotations

from typing import Any

import pytest

from tests.emulator.conftest import RG, SUB, Arm, advance, gallery_path, make_image
from tests.harness.services import Emulator

pytestmark = pytest.mark.integration

COMPUTE = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Compute"
LOCATIONS = f"/subscriptions/{SUB}/providers/Microsoft.Compute/locations"


def _version(arm: Arm, emulator: Emulator, image: str, name: str = "1.0.0", **source: Any) -> str:
    path = f"{image}/versions/{name}"
    body = {
        "location": "westeurope",
        "properties": {
            "publishingProfile": {"targetRegions": [{"name": "westeurope"}, {"name": "northeurope"}]},
            "storageProfile": {"source": source or {"id": f"{COMPUTE}/images/unknown"}},
            "safetyProfile": {"blockDeletionBeforeEndOfLife": False},
        },
    }
    answer = arm.call("PUT", path, body)
    assert answer.status == 201, answer.body
    advance(emulator, emulator.control("GET", "config")["replication_seconds"] * 2 + 1)
    return path


def test_fields_added_later_are_absent_at_older_api_versions(arm: Arm, emulator: Emulator) -> None:
    image = make_image(arm)
    path = _version(arm, emulator, image)
    new = arm.call("GET", path).body["properties"]  # 2026-03-03, the product's api-version
    assert "blockDeletionBeforeEndOfLife" in new["safetyProfile"]
    assert all("excludeFromLatest" in r for r in new["publishingProfile"]["targetRegions"])
    assert "storageAccountStrategy" in new["publishingProfile"]
    old = arm.call("GET", path, api_version="2022-03-03").body["properties"]
    assert "blockDeletionBeforeEndOfLife" not in old["safetyProfile"]
    assert all("excludeFromLatest" not in r for r in old["publishingProfile"]["targetRegions"])
    assert "storageAccountStrategy" not in old["publishingProfile"]
    listed = arm.call("GET", f"{image}/versions", api_version="2023-07-03").body["value"]
    assert "blockDeletionBeforeEndOfLife" not in listed[0]["properties"]["safetyProfile"]

    gallery = arm.call("GET", gallery_path("gal")).body["properties"]
    assert gallery["sharingProfile"] == {"permissions": "Private"} and "softDeletePolicy" in gallery
    recorded_era = arm.call("GET", gallery_path("gal"), api_version="2021-10-01").body["properties"]
    assert "sharingProfile" not in recorded_era and "softDeletePolicy" not in recorded_era


def _share(arm: Arm, emulator: Emulator, subscription: str = SUB) -> str:
    image = make_image(arm)
    _version(arm, emulator, image)
    add = {"operationType": "Add", "groups": [{"type": "Subscriptions", "ids": [subscription]}]}
    assert arm.call("POST", f"{gallery_path('gal')}/share", add).status == 202
    return str(arm.call("GET", gallery_path("gal")).body["properties"]["identifier"]["uniqueName"])


def test_a_gallery_shared_with_the_subscription_reads_as_a_shared_gallery(
    arm: Arm, emulator: Emulator
) -> None:
    unique = _share(arm, emulator)
    listed = arm.call("GET", f"{LOCATIONS}/westeurope/sharedGalleries").body["value"]
    assert [g["name"] for g in listed] == [unique]
    assert listed[0]["identifier"]["uniqueId"] == f"/SharedGalleries/{unique}"
    base = f"{LOCATIONS}/westeurope/sharedGalleries/{unique}"
    [image] = arm.call("GET", f"{base}/images").body["value"]
    assert image["properties"]["identifier"] == {"publisher": "contoso", "offer": "ubuntu", "sku": "gen2"}
    version = arm.call("GET", f"{base}/images/img/versions/1.0.0").body
    assert version["identifier"]["uniqueId"] == f"/SharedGalleries/{unique}/Images/img/Versions/1.0.0"
    assert version["properties"]["storageProfile"]["osDiskImage"]["diskSizeGB"] == 30
    # Only where the version replicates, and nowhere for another location of the gallery.
    assert arm.call("GET", f"{LOCATIONS}/northeurope/sharedGalleries").body["value"] == []
    assert arm.call("GET", f"{LOCATIONS}/eastus/sharedGalleries/{unique}").status == 404


def test_a_gallery_not_shared_with_the_subscription_is_not_readable(arm: Arm, emulator: Emulator) -> None:
    unique = _share(arm, emulator, subscription="11111111-1111-1111-1111-111111111111")
    assert arm.call("GET", f"{LOCATIONS}/westeurope/sharedGalleries").body["value"] == []
    answer = arm.call("GET", f"{LOCATIONS}/westeurope/sharedGalleries/{unique}")
    assert answer.status == 404 and answer.code == "ResourceNotFound"


def test_a_community_gallery_is_readable_once_enabled(arm: Arm, emulator: Emulator) -> None:
    image = make_image(arm)
    _version(arm, emulator, image)
    info = {
        "publisherUri": "https://contoso.example",
        "publisherContact": "a@contoso.example",
        "eula": "e",
        "publicNamePrefix": "contoso",
    }
    profile = {"permissions": "Community", "communityGalleryInfo": info}
    arm.wait(
        arm.call(
            "PUT", gallery_path("gal"), {"location": "westeurope", "properties": {"sharingProfile": profile}}
        )
    )
    props = arm.call("GET", gallery_path("gal")).body["properties"]
    [public] = props["sharingProfile"]["communityGalleryInfo"]["publicNames"]
    base = f"{LOCATIONS}/westeurope/communityGalleries/{public}"
    assert arm.call("GET", base).status == 404  # not enabled yet
    assert (
        arm.call("POST", f"{gallery_path('gal')}/share", {"operationType": "EnableCommunity"}).status == 202
    )
    gallery = arm.call("GET", base).body
    assert gallery["identifier"]["uniqueId"] == f"/CommunityGalleries/{public}"
    assert gallery["properties"]["communityMetadata"]["publicNames"] == [public]
    versions = arm.call("GET", f"{base}/images/img/versions").body["value"]
    assert [v["name"] for v in versions] == ["1.0.0"]
    assert versions[0]["properties"]["disclaimer"] == "https://aka.ms/community-gallery-disclaimer"


def test_a_version_from_a_managed_image_reports_its_disks(arm: Arm, emulator: Emulator) -> None:
    vm = f"{COMPUTE}/virtualMachines/vm1"
    storage = {
        "osDisk": {
            "osType": "Linux",
            "caching": "ReadWrite",
            "diskSizeGB": 30,
            "managedDisk": {"id": f"{COMPUTE}/disks/os", "storageAccountType": "Premium_LRS"},
        },
        "dataDisks": [
            {
                "lun": 0,
                "caching": "None",
                "diskSizeGB": 10,
                "managedDisk": {"id": f"{COMPUTE}/disks/data", "storageAccountType": "Premium_LRS"},
            }
        ],
    }
    assert (
        arm.call("PUT", vm, {"location": "westeurope", "properties": {"storageProfile": storage}}).status
        == 201
    )
    captured = arm.call(
        "PUT",
        f"{COMPUTE}/images/golden",
        {"location": "westeurope", "properties": {"sourceVirtualMachine": {"id": vm}}},
    )
    assert captured.status == 201 and captured.body["properties"]["provisioningState"] == "Creating"
    arm.wait(captured)
    managed = arm.call("GET", f"{COMPUTE}/images/golden").body["properties"]
    assert managed["storageProfile"]["osDisk"]["osState"] == "Generalized"
    assert managed["storageProfile"]["dataDisks"][0]["diskSizeGB"] == 10
    version = arm.call("GET", _version(arm, emulator, make_image(arm), id=f"{COMPUTE}/images/golden")).body
    storage_profile = version["properties"]["storageProfile"]
    assert storage_profile["osDiskImage"] == {"sizeInGB": 30, "hostCaching": "ReadWrite", "source": {}}
    assert storage_profile["dataDiskImages"] == [{"lun": 0, "sizeInGB": 10, "hostCaching": "None"}]


def test_disk_encryption_sets_and_disk_operations_carry_the_resource(arm: Arm) -> None:
    vault = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.KeyVault/vaults/kv"
    body = {
        "location": "westeurope",
        "identity": {"type": "SystemAssigned"},
        "properties": {
            "activeKey": {"sourceVault": {"id": vault}, "keyUrl": "https://kv.vault.azure.net/keys/k/1"}
        },
    }
    answer = arm.call("PUT", f"{COMPUTE}/diskEncryptionSets/des", body, api_version="2022-03-02")
    assert answer.status == 202
    done = arm.wait(answer)
    assert done["properties"]["output"]["properties"]["encryptionType"] == "EncryptionAtRestWithCustomerKey"
    assert done["properties"]["output"]["identity"]["principalId"]
    disk = {
        "location": "westeurope",
        "sku": {"name": "Premium_LRS"},
        "properties": {
            "creationData": {"createOption": "Empty"},
            "diskSizeGB": 10,
            "encryption": {"diskEncryptionSetId": f"{COMPUTE}/diskEncryptionSets/des"},
        },
    }
    created = arm.call("PUT", f"{COMPUTE}/disks/d1", disk, api_version="2023-04-02")
    props = arm.wait(created)["properties"]["output"]["properties"]
    assert props["tier"] == "P3" and props["diskState"] == "Unattached"
    assert props["encryption"]["type"] == "EncryptionAtRestWithCustomerKey"
