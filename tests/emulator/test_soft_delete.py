"""Gallery soft delete (preview): the policy is stored and echoed, a deleted version leaves GET and the
list but stays restorable for the retention period, `properties.restore: true` brings it back (the REST
spec's GalleryImageVersion_Update_RestoreSoftDeleted example), and the documented limitations hold."""

from __future__ import annotations

from typing import Any

import pytest

from tests.emulator.conftest import RG, SUB, Arm, advance, gallery_path, make_image, version_body
from tests.harness.services import Emulator

pytestmark = pytest.mark.integration
SOFT = {"isSoftDeleteEnabled": True}
DELETABLE = {"blockDeletionBeforeEndOfLife": False}


def soft_gallery(arm: Arm, gallery: str = "gal") -> str:
    image = make_image(arm, gallery)
    answer = arm.call("PATCH", gallery_path(gallery), {"properties": {"softDeletePolicy": SOFT}})
    assert answer.status == 200, answer.body
    arm.wait(answer)
    return image


def published(arm: Arm, emulator: Emulator, image: str, name: str) -> str:
    path = f"{image}/versions/{name}"
    answer = arm.call("PUT", path, version_body(**DELETABLE))
    assert answer.status == 201, answer.body
    advance(emulator, 3600)
    return path


def deleted_list(arm: Arm, gallery: str = "gal", image: str = "img") -> list[dict[str, Any]]:
    path = f"{gallery_path(gallery)}/softDeletedArtifactTypes/Images/artifacts/{image}/versions"
    answer = arm.call("GET", path)
    assert answer.status == 200, answer.body
    return list(answer.body["value"])


def test_the_policy_is_stored_and_echoed_with_its_fixed_retention(arm: Arm) -> None:
    soft_gallery(arm)
    props = arm.call("GET", gallery_path("gal")).body["properties"]
    assert props["softDeletePolicy"] == {"isSoftDeleteEnabled": True, "retentionPeriodInDays": 7}
    make_image(arm, "plain")
    plain = arm.call("GET", gallery_path("plain")).body["properties"]
    assert plain["softDeletePolicy"] == {"isSoftDeleteEnabled": False}


def test_a_deleted_version_is_gone_but_listed_and_restorable(arm: Arm, emulator: Emulator) -> None:
    image = soft_gallery(arm)
    path = published(arm, emulator, image, "1.0.0")
    published(arm, emulator, image, "1.1.0")
    before = arm.call("GET", path).body
    answer = arm.call("DELETE", path)
    assert answer.status == 202
    assert arm.wait(answer)["status"] == "Succeeded"

    assert arm.call("GET", path).status == 404
    assert [v["name"] for v in arm.call("GET", f"{image}/versions").body["value"]] == ["1.1.0"]
    [artifact] = deleted_list(arm)
    assert artifact["name"] == "1.0.0"
    assert artifact["type"] == "Microsoft.Compute/galleries/softDeletedArtifactTypes/artifacts/versions"
    assert artifact["id"].endswith(
        "/galleries/gal/softDeletedArtifactTypes/Images/artifacts/img/versions/1.0.0"
    )
    props = artifact["properties"]
    assert props["resourceArmId"] == before["id"] and props["softDeletedArtifactType"] == "Images"
    assert props["hardDeletionTargetTime"] == props["consumptionEndTime"]

    # A new version cannot silently take the name of a restorable one; a PATCH finds nothing to update.
    assert arm.call("PUT", path, version_body()).status == 409
    assert arm.call("PATCH", path, {"tags": {"a": "b"}}).status == 404

    answer = arm.call("PATCH", path, {"properties": {"restore": True, "storageProfile": {}}})
    assert answer.status == 200, answer.body
    assert answer.body["properties"]["provisioningState"] == "Updating"
    assert arm.wait(answer)["status"] == "Succeeded"
    after = arm.call("GET", path).body
    assert after["properties"]["provisioningState"] == "Succeeded"
    assert after["properties"]["publishingProfile"] == before["properties"]["publishingProfile"]
    assert "restore" not in after["properties"]
    assert deleted_list(arm) == []


def test_restore_by_put_with_the_home_region_as_the_docs_show(arm: Arm, emulator: Emulator) -> None:
    image = soft_gallery(arm)
    path = published(arm, emulator, image, "1.0.0")
    arm.wait(arm.call("DELETE", path))
    answer = arm.call("PUT", path, {"location": "westeurope"})
    assert answer.status == 200, answer.body
    arm.wait(answer)
    assert arm.call("GET", path).body["properties"]["provisioningState"] == "Succeeded"
    # Nothing soft-deleted: an explicit restore finds nothing.
    missing = arm.call("PATCH", f"{image}/versions/9.9.9", {"properties": {"restore": True}})
    assert missing.status == 404


def test_the_artifact_is_purged_after_the_retention_period(arm: Arm, emulator: Emulator) -> None:
    image = soft_gallery(arm)
    path = published(arm, emulator, image, "1.0.0")
    arm.wait(arm.call("DELETE", path))
    advance(emulator, 6 * 86400)
    assert [a["name"] for a in deleted_list(arm)] == ["1.0.0"]
    advance(emulator, 86400 + 60)
    assert deleted_list(arm) == []
    assert arm.call("PATCH", path, {"properties": {"restore": True}}).status == 404
    assert arm.call("PUT", path, version_body()).status == 201


def test_permanent_delete_and_the_documented_limitations(arm: Arm, emulator: Emulator) -> None:
    image = soft_gallery(arm)
    path = published(arm, emulator, image, "1.0.0")
    arm.wait(arm.call("DELETE", path))
    # An image definition with soft-deleted versions cannot be deleted.
    assert arm.call("DELETE", image).status == 409
    artifact = f"{gallery_path('gal')}/softDeletedArtifactTypes/Images/artifacts/img/versions/1.0.0"
    answer = arm.call("DELETE", artifact)
    assert answer.status == 202
    assert deleted_list(arm) == []
    assert arm.call("PATCH", path, {"properties": {"restore": True}}).status == 404

    # A failed version cannot be deleted while soft delete is on.
    emulator.control("POST", "faults", {"spec": "lro-fail=1"})
    failed = f"{image}/versions/2.0.0"
    arm.call("PUT", failed, version_body(**DELETABLE))
    emulator.control("POST", "faults", {"spec": ""})
    advance(emulator, 3600)
    assert arm.call("GET", failed).body["properties"]["provisioningState"] == "Failed"
    refused = arm.call("DELETE", failed)
    assert refused.status == 409 and refused.code == "OperationNotAllowed"


def test_the_sdk_lists_and_restores_soft_deleted_versions(arm: Arm, emulator: Emulator) -> None:
    image = soft_gallery(arm)
    path = published(arm, emulator, image, "1.0.0")
    compute = emulator.compute(SUB)
    compute.gallery_image_versions.begin_delete(RG, "gal", "img", "1.0.0").result()
    listed = list(compute.soft_deleted_resource.list_by_artifact_name(RG, "gal", "Images", "img"))
    assert [item["properties"]["resourceArmId"] for item in listed] == [
        arm.call("GET", image).body["id"] + "/versions/1.0.0"
    ]
    policy = compute.galleries.get(RG, "gal")["properties"]["softDeletePolicy"]
    assert policy["isSoftDeleteEnabled"] is True and policy["retentionPeriodInDays"] == 7
    restored = compute.gallery_image_versions.begin_update(
        RG, "gal", "img", "1.0.0", {"properties": {"restore": True, "storageProfile": {}}}
    ).result()
    assert restored["properties"]["provisioningState"] == "Succeeded"
    assert arm.call("GET", path).status == 200
