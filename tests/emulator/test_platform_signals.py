"""The platform's signals in the emulator: validations and policy violations of a gallery version (set by
`POST /_emulator/validation`, shown at the api-versions that have them), a Marketplace version's
`imageDeprecationStatus` (set by `POST /_emulator/marketplace`), and restore of a soft-deleted version."""

from __future__ import annotations

from typing import Any

import pytest

from tests.emulator.conftest import SUB, Arm, advance, make_image, version_body
from tests.harness.services import Emulator

pytestmark = pytest.mark.integration

MARKET = {"location": "westeurope", "publisher": "Canonical", "offer": "ubuntu-24_04-lts", "sku": "server"}
MARKET_PATH = (
    f"/subscriptions/{SUB}/providers/Microsoft.Compute/locations/westeurope/publishers/Canonical"
    "/artifacttypes/vmimage/offers/ubuntu-24_04-lts/skus/server/versions"
)


def _version(arm: Arm, name: str = "1.0.0") -> str:
    path = f"{make_image(arm)}/versions/{name}"
    _finish(arm, arm.call("PUT", path, version_body(blockDeletionBeforeEndOfLife=False)))
    return path


def _finish(arm: Arm, answer: Any) -> None:
    """Let the write's replication run its virtual time, then follow it to the end."""
    assert answer.status in (200, 201, 202), answer.body
    advance(arm.emulator, 3600)
    arm.wait(answer)


def _signal(arm: Arm, body: dict[str, Any]) -> Any:
    return arm.call("POST", "/_emulator/validation", body, api_version=None)


def test_validations_show_with_the_expand_and_violations_on_every_read(arm: Arm) -> None:
    path = _version(arm)
    plain = arm.call("GET", path).body["properties"]
    assert "validationsProfile" not in plain
    assert plain["safetyProfile"]["reportedForPolicyViolation"] is False
    answer = _signal(
        arm,
        {
            "version_id": path,
            "executedValidations": [{"type": "TrustedLaunch", "status": "failed", "version": "1"}],
            "reportedForPolicyViolation": True,
            "policyViolations": [{"category": "ImageFlaggedUnsafe", "details": "malware"}],
        },
    )
    assert answer.status == 200, answer.body
    body = arm.call("GET", path, **{"$expand": "ValidationProfile,ReplicationStatus"}).body["properties"]
    validations = body["validationsProfile"]
    assert validations["executedValidations"][0]["status"] == "Failed"  # the spec's enum spelling
    assert validations["executedValidations"][0]["executionTime"]
    assert validations["validationEtag"] == body["publishingProfile"]["publishedDate"]
    assert "replicationStatus" in body
    assert body["safetyProfile"]["policyViolations"] == [
        {"category": "ImageFlaggedUnsafe", "details": "malware"}
    ]
    listed = arm.call("GET", path.rsplit("/", 1)[0]).body["value"][0]["properties"]
    assert listed["safetyProfile"]["reportedForPolicyViolation"] is True
    assert "validationsProfile" not in listed  # a list takes no ValidationProfile expand

    # Azure clears the flag; a field left out keeps its value.
    _signal(arm, {"version_id": path, "reportedForPolicyViolation": False, "policyViolations": []})
    body = arm.call("GET", path, **{"$expand": "ValidationProfile"}).body["properties"]
    assert body["safetyProfile"]["reportedForPolicyViolation"] is False
    assert "policyViolations" not in body["safetyProfile"]
    assert body["validationsProfile"]["executedValidations"][0]["type"] == "TrustedLaunch"


def test_older_api_versions_do_not_see_the_signals(arm: Arm) -> None:
    path = _version(arm)
    _signal(arm, {"version_id": path, "reportedForPolicyViolation": True})
    old = arm.call("GET", path, api_version="2023-07-03", **{"$expand": "ValidationProfile"}).body
    assert "validationsProfile" not in old["properties"]
    # The violations are older than the validations: GalleryRP 2022-03-03 has them, and Azure answers them
    # at 2022-03-03 (cli-recordings/test_image_version_create_for_diff_source.yaml interaction 35).
    assert old["properties"]["safetyProfile"]["reportedForPolicyViolation"] is True
    oldest = arm.call("GET", path, api_version="2022-01-03").body
    assert "reportedForPolicyViolation" not in oldest["properties"]["safetyProfile"]
    new = arm.call("GET", path, api_version="2024-03-03").body
    assert new["properties"]["safetyProfile"]["reportedForPolicyViolation"] is True


def test_the_sdk_reads_the_signals(emulator: Emulator, arm: Arm) -> None:
    path = _version(arm)
    _signal(
        arm, {"version_id": path, "executedValidations": [{"type": "TrustedLaunch", "status": "Succeeded"}]}
    )
    compute = emulator.compute(SUB)
    body = compute.gallery_image_versions.get(
        "rg-emulator", "gal", "img", "1.0.0", expand="ValidationProfile"
    )
    assert body["properties"]["validationsProfile"]["executedValidations"][0]["status"] == "Succeeded"


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"executedValidations": [{"type": "X", "status": "Passed"}]}, "status"),
        ({"executedValidations": [{"status": "Failed"}]}, "type"),
        ({"policyViolations": [{"category": "Spam"}]}, "category"),
        ({"reportedForPolicyViolation": "yes"}, "boolean"),
    ],
    ids=["unknown-status", "no-type", "unknown-category", "not-a-bool"],
)
def test_bad_signals_are_refused_naming_the_field(arm: Arm, body: dict[str, Any], problem: str) -> None:
    path = _version(arm)
    answer = _signal(arm, {"version_id": path, **body})
    assert answer.status == 400 and problem in answer.body["error"]["message"]


def test_signals_of_an_unknown_version_are_404(arm: Arm) -> None:
    path = f"{make_image(arm)}/versions/9.9.9"
    assert _signal(arm, {"version_id": path, "reportedForPolicyViolation": True}).status == 404


def test_a_version_published_again_under_the_same_name_starts_clean(arm: Arm, emulator: Emulator) -> None:
    path = _version(arm)
    _signal(arm, {"version_id": path, "reportedForPolicyViolation": True})
    _finish(arm, arm.call("DELETE", path))
    _finish(arm, arm.call("PUT", path, version_body(blockDeletionBeforeEndOfLife=False)))
    assert arm.call("GET", path).body["properties"]["safetyProfile"]["reportedForPolicyViolation"] is False


def test_marketplace_deprecation_status(arm: Arm, emulator: Emulator) -> None:
    created = arm.call("POST", "/_emulator/marketplace", {**MARKET, "version": "2024.10.1"}, api_version=None)
    assert created.status == 201
    one = arm.call("GET", f"{MARKET_PATH}/2024.10.1", api_version="2026-04-01").body
    assert one["properties"]["imageDeprecationStatus"] == {"imageState": "Active"}
    status = {
        "imageState": "ScheduledForDeprecation",
        "scheduledDeprecationTime": "2027-01-31T00:00:00Z",
        "alternativeOption": {"type": "Offer", "value": "ubuntu-26_04-lts"},
    }
    updated = arm.call(
        "POST",
        "/_emulator/marketplace",
        {**MARKET, "version": "2024.10.1", "imageDeprecationStatus": status},
        api_version=None,
    )
    assert updated.status == 200, updated.body
    compute = emulator.compute(SUB)
    got = compute.virtual_machine_images.get(
        "westeurope", "Canonical", "ubuntu-24_04-lts", "server", "2024.10.1"
    )
    deprecation = got.image_deprecation_status  # the SDK's model over the wire body
    assert deprecation.image_state == "ScheduledForDeprecation"
    assert deprecation.alternative_option.value == "ubuntu-26_04-lts"
    assert deprecation.scheduled_deprecation_time.year == 2027
    old = arm.call("GET", f"{MARKET_PATH}/2024.10.1", api_version="2022-08-01").body
    assert "imageDeprecationStatus" not in old["properties"]
    bad = arm.call(
        "POST",
        "/_emulator/marketplace",
        {**MARKET, "version": "2024.10.1", "imageDeprecationStatus": {"imageState": "Retired"}},
        api_version=None,
    )
    assert bad.status == 400 and "imageState" in bad.body["error"]["message"]


def test_restore_of_a_soft_deleted_version_with_the_specs_body(arm: Arm) -> None:
    """GalleryImageVersion_Update_RestoreSoftDeleted.json: PATCH {properties: {restore: true,
    storageProfile: {}}} answers 200 with the version Updating, then it is back."""
    image = make_image(arm)
    gallery = image.split("/images/")[0]
    soft = {"softDeletePolicy": {"isSoftDeleteEnabled": True}}
    _finish(arm, arm.call("PUT", gallery, {"location": "westeurope", "properties": soft}))
    path = f"{image}/versions/1.0.0"
    _finish(arm, arm.call("PUT", path, version_body(blockDeletionBeforeEndOfLife=False)))
    _finish(arm, arm.call("DELETE", path))
    assert arm.call("GET", path).status == 404
    restored = arm.call("PATCH", path, {"properties": {"restore": True, "storageProfile": {}}})
    assert restored.status == 200 and restored.body["properties"]["provisioningState"] == "Updating"
    _finish(arm, restored)
    assert arm.call("GET", path).body["properties"]["provisioningState"] == "Succeeded"
