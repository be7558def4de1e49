"""The real ComputeManagementClient (azure-mgmt-compute 39, api-version 2026-03-03) against the emulator:
create, list across pages, update and delete galleries, image definitions and versions with the SDK's own
pollers, while replication progresses on the virtual clock."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.emulator.conftest import RG, SUB, advance

pytestmark = pytest.mark.integration

LOCATION = "westeurope"
SOURCE = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Compute/images/golden"


def _gallery(compute: Any, name: str = "gal") -> Any:
    return compute.galleries.begin_create_or_update(
        RG, name, {"location": LOCATION, "properties": {"description": "test gallery"}}
    ).result()


def _image(compute: Any, gallery: str = "gal", name: str = "ubuntu") -> Any:
    return compute.gallery_images.begin_create_or_update(
        RG,
        gallery,
        name,
        {
            "location": LOCATION,
            "properties": {
                "osType": "Linux",
                "osState": "Generalized",
                "hyperVGeneration": "V2",
                "identifier": {"publisher": "contoso", "offer": "ubuntu", "sku": name},
            },
        },
    ).result()


def _version_body(regions: list[dict[str, Any]], **safety: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "location": LOCATION,
        "properties": {
            "publishingProfile": {"targetRegions": regions},
            "storageProfile": {"source": {"id": SOURCE}},
        },
    }
    if safety:
        body["properties"]["safetyProfile"] = safety
    return body


def _wait_until(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


def test_gallery_and_image_create_get_update(compute: Any) -> None:
    gallery = _gallery(compute)
    assert gallery.provisioning_state == "Succeeded"
    assert gallery.id == f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Compute/galleries/gal"
    assert gallery.identifier.unique_name == f"{SUB}-GAL"

    image = _image(compute)
    assert image.provisioning_state == "Succeeded"
    assert image.hyper_v_generation == "V2"
    assert image.architecture == "x64"

    updated = compute.galleries.begin_update(RG, "gal", {"properties": {"description": "changed"}}).result()
    assert updated.description == "changed"
    assert compute.galleries.get(RG, "gal").description == "changed"

    image = compute.gallery_images.begin_update(RG, "gal", "ubuntu", {"tags": {"team": "platform"}}).result()
    assert image.tags == {"team": "platform"}


def test_version_replicates_on_the_virtual_clock(compute: Any, emulator: Any) -> None:
    _gallery(compute)
    _image(compute)
    poller = compute.gallery_image_versions.begin_create_or_update(
        RG,
        "gal",
        "ubuntu",
        "1.0.0",
        _version_body(
            [
                {"name": "West Europe", "regionalReplicaCount": 1},
                {"name": "eastus", "regionalReplicaCount": 2, "storageAccountType": "Standard_ZRS"},
            ]
        ),
    )
    version = compute.gallery_image_versions.get(RG, "gal", "ubuntu", "1.0.0", expand="ReplicationStatus")
    assert version.provisioning_state == "Creating"
    assert [r.name for r in version.publishing_profile.target_regions] == ["West Europe", "East US"]
    status = version.replication_status
    assert status.aggregated_state == "InProgress"
    assert {s.region for s in status.summary} == {"West Europe", "East US"}
    assert all(s.state == "Replicating" and s.progress < 100 for s in status.summary)

    advance(emulator, 30)  # half of the session emulator's 60 s replication
    halfway = compute.gallery_image_versions.get(RG, "gal", "ubuntu", "1.0.0", expand="ReplicationStatus")
    assert all(40 <= s.progress <= 60 for s in halfway.replication_status.summary)
    assert not poller.done()

    advance(emulator, 31)
    version = poller.result(timeout=30)
    assert version.provisioning_state == "Succeeded"
    done = compute.gallery_image_versions.get(RG, "gal", "ubuntu", "1.0.0", expand="ReplicationStatus")
    assert done.replication_status.aggregated_state == "Completed"
    assert all(s.state == "Completed" and s.progress == 100 for s in done.replication_status.summary)

    # 2026-03-03 defaults: end of life six months after publishing, deletion blocked until then.
    profile = done.publishing_profile
    assert profile.published_date is not None
    assert profile.end_of_life_date is not None
    assert 180 <= (profile.end_of_life_date - profile.published_date).days <= 185
    assert done.safety_profile.block_deletion_before_end_of_life is True
    assert profile.storage_account_strategy == "PreferStandard_ZRS"
    types = {r.name: r.storage_account_type for r in profile.target_regions}
    assert types == {"West Europe": "Standard_ZRS", "East US": "Standard_ZRS"}

    stats = emulator.stats()
    assert stats["by_operation"]["PUT Microsoft.Compute/galleries/images/versions"] == 1
    assert stats["by_operation"]["GET Microsoft.Compute/locations/capsOperations"] >= 1


def test_update_adds_a_region_and_delete_cleans_up(compute: Any, emulator: Any) -> None:
    _gallery(compute)
    _image(compute)
    body = _version_body(
        [{"name": LOCATION}], blockDeletionBeforeEndOfLife=False, allowDeletionOfReplicatedLocations=True
    )
    poller = compute.gallery_image_versions.begin_create_or_update(RG, "gal", "ubuntu", "1.0.0", body)
    advance(emulator, 61)
    assert poller.result(timeout=30).provisioning_state == "Succeeded"

    # A tag-only update completes at once; adding a region waits for that region's replication.
    tagged = compute.gallery_image_versions.begin_update(
        RG, "gal", "ubuntu", "1.0.0", {"tags": {"lifecycle.state": "active"}}
    ).result(timeout=30)
    assert tagged.tags == {"lifecycle.state": "active"}

    poller = compute.gallery_image_versions.begin_update(
        RG,
        "gal",
        "ubuntu",
        "1.0.0",
        {
            "properties": {
                "publishingProfile": {"targetRegions": [{"name": LOCATION}, {"name": "North Europe"}]},
                "storageProfile": {},
            }
        },
    )
    current = compute.gallery_image_versions.get(RG, "gal", "ubuntu", "1.0.0", expand="ReplicationStatus")
    assert current.provisioning_state == "Updating"
    states = {s.region: s.state for s in current.replication_status.summary}
    assert states == {"West Europe": "Completed", "North Europe": "Replicating"}
    advance(emulator, 61)
    updated = poller.result(timeout=30)
    assert updated.provisioning_state == "Succeeded"
    assert [r.name for r in updated.publishing_profile.target_regions] == ["West Europe", "North Europe"]

    # Remove the replicated region again (allowed by the safety profile), then tear everything down.
    compute.gallery_image_versions.begin_update(
        RG,
        "gal",
        "ubuntu",
        "1.0.0",
        {"properties": {"publishingProfile": {"targetRegions": [{"name": LOCATION}]}, "storageProfile": {}}},
    ).result(timeout=30)
    compute.gallery_image_versions.begin_delete(RG, "gal", "ubuntu", "1.0.0").result(timeout=30)
    assert list(compute.gallery_image_versions.list_by_gallery_image(RG, "gal", "ubuntu")) == []
    compute.gallery_images.begin_delete(RG, "gal", "ubuntu").result(timeout=30)
    compute.galleries.begin_delete(RG, "gal").result(timeout=30)
    assert list(compute.galleries.list_by_resource_group(RG)) == []
    stats = emulator.stats()
    assert stats["by_operation"]["DELETE Microsoft.Compute/galleries/images/versions"] == 1
    assert stats["by_operation"]["PATCH Microsoft.Compute/galleries/images/versions"] == 3


def test_lists_page_with_next_link(compute: Any, emulator: Any) -> None:
    emulator.control("POST", "config", {"page_size": 4})
    for index in range(10):
        compute.galleries.begin_create_or_update(
            RG if index % 2 else "rg-other", f"g{index:02d}", {"location": LOCATION}
        ).result()
    before = emulator.stats()["by_operation"].get("GET Microsoft.Compute/galleries", 0)
    names = [g.name for g in compute.galleries.list()]
    assert names == [f"g{i:02d}" for i in range(10)]
    assert [g.name for g in compute.galleries.list_by_resource_group(RG)] == [
        f"g{i:02d}" for i in range(1, 10, 2)
    ]
    # 10 galleries in pages of 4 -> 3 GETs; the 5 in the resource group -> 2 GETs.
    assert emulator.stats()["by_operation"]["GET Microsoft.Compute/galleries"] - before == 5

    _image(compute, "g01", "img")
    before_versions = emulator.stats()["by_operation"].get(
        "GET Microsoft.Compute/galleries/images/versions", 0
    )
    for minor in range(9):
        compute.gallery_image_versions.begin_create_or_update(
            RG, "g01", "img", f"1.{minor}.0", _version_body([{"name": LOCATION}]), polling=False
        )
    versions = list(compute.gallery_image_versions.list_by_gallery_image(RG, "g01", "img"))
    assert [v.name for v in versions] == [f"1.{m}.0" for m in range(9)]
    assert {v.provisioning_state for v in versions} == {"Creating"}
    # 9 versions in pages of 4 -> 3 GETs.
    ops = emulator.stats()["by_operation"]
    assert ops["GET Microsoft.Compute/galleries/images/versions"] - before_versions == 3
    for index in range(6):
        _image(compute, "g01", f"extra{index}")
    before_images = emulator.stats()["by_operation"]["GET Microsoft.Compute/galleries/images"]
    assert len(list(compute.gallery_images.list_by_gallery(RG, "g01"))) == 7
    assert emulator.stats()["by_operation"]["GET Microsoft.Compute/galleries/images"] - before_images == 2


def test_ids_keep_creation_casing_and_paths_match_case_insensitively(compute: Any) -> None:
    compute.galleries.begin_create_or_update("RG-Mixed", "MyGallery", {"location": LOCATION}).result()
    got = compute.galleries.get("rg-mixed", "mygallery")
    assert got.id.endswith("/resourceGroups/RG-Mixed/providers/Microsoft.Compute/galleries/MyGallery")
    assert got.name == "MyGallery"
