"""The emulator's replication rules: a region failing on its own (forced or drawn), Azure's error text, retry
by update, remove-and-re-add, the lag between provisioningState and a region's state, per-region encryption,
what an update that omits per-region fields does, and storageProfile required in updates. Plain HTTPS."""

from __future__ import annotations

from typing import Any

import pytest

from tests.emulator.conftest import Answer, Arm, advance, make_image, version_body

pytestmark = pytest.mark.integration

DES = (
    "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-keys"
    "/providers/Microsoft.Compute/diskEncryptionSets/{}"
)
SP: dict[str, Any] = {"storageProfile": {}}


def _version(arm: Arm, emulator: Any, regions: list[dict[str, Any]] | None = None, **kw: Any) -> str:
    image = make_image(arm)
    body = version_body()
    if regions is not None:
        body["properties"]["publishingProfile"]["targetRegions"] = regions
    body["properties"].update(kw)
    path = f"{image}/versions/1.0.0"
    answer = arm.call("PUT", path, body)
    assert answer.status == 201, answer.body
    advance(emulator, 61)
    assert arm.wait(answer)["status"] == "Succeeded"
    return path


def _patch_regions(arm: Arm, path: str, regions: list[dict[str, Any]], **props: Any) -> Answer:
    return arm.call(
        "PATCH", path, {"properties": {"publishingProfile": {"targetRegions": regions}, **SP, **props}}
    )


def _status(arm: Arm, path: str) -> tuple[str, dict[str, tuple[str, str]]]:
    body = arm.call("GET", path, **{"$expand": "ReplicationStatus"}).body
    summary = body["properties"]["replicationStatus"]["summary"]
    return body["properties"]["provisioningState"], {s["region"]: (s["state"], s["details"]) for s in summary}


def _force(emulator: Any, path: str, region: str, outcome: str = "Failed", **extra: Any) -> dict[str, Any]:
    vid = path  # the emulator matches ids case-insensitively
    result: dict[str, Any] = emulator.control(
        "POST", "replication", {"version_id": vid, "region": region, "outcome": outcome, **extra}
    )
    return result


# -- storageProfile ------------------------------------------------------------------------------------


def test_an_update_with_properties_needs_a_storage_profile(arm: Arm, emulator: Any) -> None:
    path = _version(arm, emulator)
    missing = arm.call("PATCH", path, {"properties": {"publishingProfile": {"excludeFromLatest": True}}})
    assert missing.status == 400 and missing.body["error"]["code"] == "InvalidParameter"
    assert missing.body["error"]["target"] == "galleryImageVersion.properties.storageProfile"
    assert arm.call("PATCH", path, {"tags": {"a": "b"}}).status == 200  # no properties: nothing required
    ok = arm.call("PATCH", path, {"properties": {"publishingProfile": {"excludeFromLatest": True}, **SP}})
    assert ok.status == 200, ok.body
    # `{}` changes nothing in the stored storage profile.
    assert ok.body["properties"]["storageProfile"]["source"]["id"].endswith("/images/src")


# -- regional failure, retry, remove and re-add ---------------------------------------------------------


def test_a_forced_regional_failure_fails_the_version_with_azures_text_and_a_retry_heals_it(
    arm: Arm, emulator: Any
) -> None:
    path = _version(arm, emulator)
    assert _force(emulator, path, "northeurope") == {
        "forced": "Failed",
        "applied": "next",
        "heals_by": "retry",
    }
    answer = _patch_regions(arm, path, [{"name": "westeurope"}, {"name": "northeurope"}])
    assert answer.status == 200
    advance(emulator, 61)
    status = arm.wait(answer)
    assert status["status"] == "Failed"
    assert status["error"]["message"] == (
        "Gallery replication jobs failed in one or more regions. The failing regions' details are as "
        "follows: '{region:northeurope, detail:Failed with internal server error.}'. If retry does not "
        "work, then please do an update by removing the failed regions and update again by adding them back."
    )
    state, regions = _status(arm, path)
    assert state == "Failed"
    assert regions == {
        "West Europe": ("Completed", ""),
        "North Europe": ("Failed", "Failed with internal server error."),
    }
    # Retry: update the version again (a tags-only update is an update too; here the same regions).
    retry = _patch_regions(arm, path, [{"name": "westeurope"}, {"name": "northeurope"}])
    assert retry.status == 200, retry.body
    assert _status(arm, path)[1]["North Europe"][0] == "Replicating"
    advance(emulator, 61)
    assert arm.wait(retry)["status"] == "Succeeded"
    assert _status(arm, path) == (
        "Succeeded",
        {"West Europe": ("Completed", ""), "North Europe": ("Completed", "")},
    )


def test_a_failure_retries_do_not_cure_is_cured_by_removing_and_re_adding_the_region(
    arm: Arm, emulator: Any
) -> None:
    path = _version(arm, emulator)
    _force(emulator, path, "northeurope", heals_by="readd")
    both = [{"name": "westeurope"}, {"name": "northeurope"}]
    for _ in range(2):  # the first replication and a retry both fail
        answer = _patch_regions(arm, path, both)
        advance(emulator, 61)
        assert arm.wait(answer)["status"] == "Failed"
    # A failed region holds no replica: removing it needs no allowDeletionOfReplicatedLocations.
    removed = _patch_regions(arm, path, [{"name": "westeurope"}])
    assert removed.status == 200, removed.body
    assert arm.wait(removed)["status"] == "Succeeded"
    readd = _patch_regions(arm, path, both)
    advance(emulator, 61)
    assert arm.wait(readd)["status"] == "Succeeded"
    assert _status(arm, path)[1]["North Europe"] == ("Completed", "")


def test_a_failure_forced_while_a_region_replicates_fails_that_write(arm: Arm, emulator: Any) -> None:
    path = _version(arm, emulator)
    answer = _patch_regions(arm, path, [{"name": "westeurope"}, {"name": "eastus"}])
    assert _force(emulator, path, "eastus")["applied"] == "current"
    advance(emulator, 61)
    status = arm.wait(answer)
    assert status["status"] == "Failed" and "{region:eastus," in status["error"]["message"]
    assert _status(arm, path)[1]["East US"][0] == "Failed"


def test_region_fail_fault_fails_every_region_a_write_starts(arm: Arm, emulator: Any) -> None:
    path = _version(arm, emulator)
    emulator.control("POST", "faults", {"spec": "region-fail=1"})
    answer = _patch_regions(arm, path, [{"name": "westeurope"}, {"name": "eastus"}])
    advance(emulator, 61)
    assert arm.wait(answer)["status"] == "Failed"
    assert _status(arm, path)[1] == {
        "West Europe": ("Completed", ""),  # not restarted by this write
        "East US": ("Failed", "Failed with internal server error."),
    }


def test_control_endpoint_rejects_bad_requests(emulator: Any) -> None:
    import urllib.error

    for body in ({"region": "westeurope", "outcome": "Failed"}, {"version_id": "x", "region": "nowhere"}):
        with pytest.raises(urllib.error.HTTPError) as err:
            emulator.control("POST", "replication", body)
        assert err.value.code == 400


# -- lag between provisioningState and the region's state ----------------------------------------------


def test_a_region_can_read_replicating_after_the_operation_succeeded(arm: Arm, emulator: Any) -> None:
    path = _version(arm, emulator)
    _force(emulator, path, "eastus", "Lagging", seconds=600)
    answer = _patch_regions(arm, path, [{"name": "westeurope"}, {"name": "eastus"}])
    advance(emulator, 61)
    assert arm.wait(answer)["status"] == "Succeeded"
    state, regions = _status(arm, path)
    assert state == "Succeeded" and regions["East US"][0] == "Replicating"
    advance(emulator, 600)
    assert _status(arm, path)[1]["East US"][0] == "Completed"


def test_the_lag_can_be_configured_for_every_region(arm: Arm, emulator: Any) -> None:
    emulator.control("POST", "config", {"replication_lag_seconds": 120})
    image = make_image(arm)
    answer = arm.call("PUT", f"{image}/versions/1.0.0", version_body())
    advance(emulator, 61)
    assert arm.wait(answer)["status"] == "Succeeded"
    assert _status(arm, f"{image}/versions/1.0.0")[1]["West Europe"][0] == "Replicating"
    advance(emulator, 120)
    assert _status(arm, f"{image}/versions/1.0.0")[1]["West Europe"][0] == "Completed"


# -- per-region fields ------------------------------------------------------------------------------------

ENCRYPTED = {"osDiskImage": {"diskEncryptionSetId": DES.format("west")}}


def test_a_region_added_to_an_encrypted_version_needs_its_own_encryption(arm: Arm, emulator: Any) -> None:
    path = _version(arm, emulator, regions=[{"name": "westeurope", "encryption": ENCRYPTED}])
    plain = _patch_regions(arm, path, [{"name": "westeurope"}, {"name": "eastus"}])
    assert plain.status == 400 and plain.body["error"]["code"] == "InvalidParameter"
    assert "must specify 'encryption'" in plain.body["error"]["message"]
    east = {"osDiskImage": {"diskEncryptionSetId": DES.format("east")}}
    ok = _patch_regions(arm, path, [{"name": "westeurope"}, {"name": "eastus", "encryption": east}])
    assert ok.status == 200, ok.body
    regions = {r["name"]: r for r in ok.body["properties"]["publishingProfile"]["targetRegions"]}

    # Omitted on an existing region, its encryption stays (spec example GalleryImageVersion_Update); Azure
    # answers an osDiskImage encryption with an empty securityProfile (cli-recordings/test_gallery_e2e.yaml
    # interaction 92).
    def answered(encryption: dict[str, Any]) -> dict[str, Any]:
        return {"osDiskImage": {**encryption["osDiskImage"], "securityProfile": {}}}

    assert regions["West Europe"]["encryption"] == answered(ENCRYPTED)
    assert regions["East US"]["encryption"] == answered(east)


def test_an_existing_regions_encryption_cannot_change(arm: Arm, emulator: Any) -> None:
    path = _version(arm, emulator, regions=[{"name": "westeurope", "encryption": ENCRYPTED}])
    other = {"osDiskImage": {"diskEncryptionSetId": DES.format("other")}}
    answer = _patch_regions(arm, path, [{"name": "westeurope", "encryption": other}])
    assert answer.status == 409 and answer.body["error"]["code"] == "PropertyChangeNotAllowed"


def test_an_update_that_omits_per_region_fields_drops_them(arm: Arm, emulator: Any) -> None:
    sets = [{"storageAccountType": "PremiumV2_LRS", "regionalReplicaCount": 1}]
    path = _version(
        arm,
        emulator,
        regions=[
            {"name": "westeurope"},
            {"name": "eastus", "excludeFromLatest": True, "additionalReplicaSets": sets},
        ],
    )
    kept = _patch_regions(
        arm,
        path,
        [
            {"name": "westeurope"},
            {"name": "eastus", "excludeFromLatest": True, "additionalReplicaSets": sets},
        ],
    )
    east = kept.body["properties"]["publishingProfile"]["targetRegions"][1]
    assert east["excludeFromLatest"] is True and east["additionalReplicaSets"] == sets
    arm.wait(kept)
    dropped = _patch_regions(arm, path, [{"name": "westeurope"}, {"name": "eastus"}])
    east = dropped.body["properties"]["publishingProfile"]["targetRegions"][1]
    assert east["excludeFromLatest"] is False and "additionalReplicaSets" not in east
