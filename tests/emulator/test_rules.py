"""ARM and Azure Compute Gallery rules: every rejection has its status and error code, and the 2026-03-03
defaults apply. Plain HTTPS calls, so status codes and bodies are seen exactly as sent."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from tests.emulator.conftest import (
    RG,
    SUB,
    Answer,
    Arm,
    advance,
    gallery_path,
    image_body,
    make_image,
    version_body,
)

pytestmark = pytest.mark.integration


def _error(answer: Answer, status: int, code: str) -> None:
    assert answer.status == status, answer.body
    assert set(answer.body) == {"error"}
    assert answer.body["error"]["code"] == code
    assert answer.body["error"]["message"]


def _create_version(arm: Arm, image: str, name: str = "1.0.0", api: str = "2026-03-03", **kw: Any) -> Answer:
    answer = arm.call("PUT", f"{image}/versions/{name}", version_body(**kw), api_version=api)
    assert answer.status == 201, answer.body
    return answer


def _replicated(arm: Arm, emulator: Any, image: str, name: str = "1.0.0", **kw: Any) -> str:
    answer = _create_version(arm, image, name, **kw)
    advance(emulator, 61)
    assert arm.wait(answer)["status"] == "Succeeded"
    return f"{image}/versions/{name}"


# -- protocol --------------------------------------------------------------------------------------


def test_missing_authorization_is_401(arm: Arm) -> None:
    _error(arm.call("GET", gallery_path("g"), auth=False), 401, "AuthenticationFailed")


def test_any_bearer_token_is_accepted(arm: Arm) -> None:
    answer = arm.call("GET", gallery_path("missing"), headers={"Authorization": "Bearer anything.at.all"})
    _error(answer, 404, "ResourceNotFound")


def test_missing_api_version_is_400(arm: Arm) -> None:
    _error(arm.call("GET", gallery_path("g"), api_version=None), 400, "MissingApiVersionParameter")


@pytest.mark.parametrize("version", ["2019-07-01", "2026-04-01", "latest", "2030-01-01-preview"])
def test_unsupported_api_version_is_400(arm: Arm, version: str) -> None:
    _error(arm.call("GET", gallery_path("g"), api_version=version), 400, "InvalidApiVersionParameter")


@pytest.mark.parametrize(
    "version",
    [
        "2019-12-01",
        "2020-09-30",
        "2021-07-01",
        "2022-03-03",
        "2023-07-03",
        "2024-03-03",
        "2025-03-03",
        "2026-03-03",
    ],
)
def test_supported_compute_api_versions(arm: Arm, version: str) -> None:
    answer = arm.call(
        "GET",
        f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Compute/galleries",
        api_version=version,
    )
    assert answer.status == 200
    assert answer.body == {"value": []}


def test_unknown_resource_type_is_404(arm: Arm) -> None:
    answer = arm.call(
        "GET", f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Compute/widgets/w"
    )
    _error(answer, 404, "InvalidResourceType")


def test_paths_are_case_insensitive_and_ids_keep_creation_casing(arm: Arm) -> None:
    arm.wait(arm.call("PUT", gallery_path("Gal", rg="My-RG"), {"location": "westeurope"}))
    answer = arm.call(
        "GET", f"/SUBSCRIPTIONS/{SUB}/resourcegroups/my-rg/PROVIDERS/microsoft.compute/GALLERIES/gal"
    )
    assert answer.status == 200
    assert answer.body["id"] == gallery_path("Gal", rg="My-RG")
    assert answer.body["name"] == "Gal"


def test_bad_json_is_400(arm: Arm) -> None:
    _error(arm.call("PUT", gallery_path("g"), b"{not json"), 400, "InvalidRequestContent")


# -- locations and regions -------------------------------------------------------------------------


def test_unknown_location_is_400(arm: Arm) -> None:
    _error(
        arm.call("PUT", gallery_path("g"), {"location": "atlantis"}),
        400,
        "LocationNotAvailableForResourceType",
    )
    _error(arm.call("PUT", gallery_path("g"), {"properties": {}}), 400, "LocationRequired")


def test_unknown_target_region_is_400(arm: Arm) -> None:
    image = make_image(arm)
    answer = arm.call("PUT", f"{image}/versions/1.0.0", version_body(regions=["westeurope", "middleearth"]))
    _error(answer, 400, "InvalidParameter")
    assert "targetRegions" in answer.body["error"]["target"]


def test_home_region_must_be_a_target_region(arm: Arm) -> None:
    image = make_image(arm)
    answer = arm.call("PUT", f"{image}/versions/1.0.0", version_body(regions=["eastus"]))
    _error(answer, 400, "InvalidParameter")
    assert "home region" in answer.body["error"]["message"]


def test_duplicate_target_regions_are_rejected(arm: Arm) -> None:
    image = make_image(arm)
    answer = arm.call("PUT", f"{image}/versions/1.0.0", version_body(regions=["West Europe", "westeurope"]))
    _error(answer, 400, "InvalidParameter")


def test_target_regions_echo_in_display_form(arm: Arm) -> None:
    image = make_image(arm)
    answer = _create_version(arm, image, regions=["westeurope", "EAST US 2", "southeastasia"])
    names = [t["name"] for t in answer.body["properties"]["publishingProfile"]["targetRegions"]]
    assert names == ["West Europe", "East US 2", "Southeast Asia"]


def test_invalid_version_name_is_400(arm: Arm) -> None:
    image = make_image(arm)
    _error(arm.call("PUT", f"{image}/versions/1.0", version_body()), 400, "InvalidParameter")
    _error(arm.call("PUT", f"{image}/versions/1.0.99999999999", version_body()), 400, "InvalidParameter")


def test_storage_account_type_and_strategy_are_exclusive(arm: Arm) -> None:
    image = make_image(arm)
    body = version_body()
    body["properties"]["publishingProfile"].update(
        storageAccountType="Standard_LRS", storageAccountStrategy="PreferStandard_ZRS"
    )
    _error(arm.call("PUT", f"{image}/versions/1.0.0", body), 400, "InvalidParameter")


# -- busy versions and non-updatable settings ------------------------------------------------------


def test_writes_to_a_version_in_progress_get_409(arm: Arm) -> None:
    image = make_image(arm)
    _create_version(arm, image)
    path = f"{image}/versions/1.0.0"
    _error(arm.call("PATCH", path, {"tags": {"a": "b"}}), 409, "OperationNotAllowed")
    _error(arm.call("PUT", path, version_body()), 409, "OperationNotAllowed")
    _error(arm.call("DELETE", path), 409, "OperationNotAllowed")


def test_writes_to_a_deleting_version_get_409(arm: Arm, emulator: Any) -> None:
    emulator.control("POST", "config", {"delete_seconds": 120})
    image = make_image(arm)
    path = _replicated(arm, emulator, image, blockDeletionBeforeEndOfLife=False)
    deleting = arm.call("DELETE", path)
    assert deleting.status == 202
    assert arm.call("GET", path).body["properties"]["provisioningState"] == "Deleting"
    _error(arm.call("PATCH", path, {"tags": {"a": "b"}}), 409, "OperationNotAllowed")
    monitor = arm.call("GET", deleting.headers["location"])
    assert monitor.status == 202
    advance(emulator, 121)
    # Done: 200 and no body (cli-recordings/test_community_gallery_operations.yaml interaction 6).
    done = arm.call("GET", deleting.headers["location"])
    assert done.status == 200 and not done.body
    _error(arm.call("GET", path), 404, "ResourceNotFound")


def test_storage_account_type_of_an_existing_region_cannot_change(arm: Arm, emulator: Any) -> None:
    image = make_image(arm)
    path = _replicated(arm, emulator, image)
    current = arm.call("GET", path).body
    assert (
        current["properties"]["publishingProfile"]["targetRegions"][0]["storageAccountType"] == "Standard_ZRS"
    )
    change = {
        "properties": {
            "publishingProfile": {
                "targetRegions": [{"name": "westeurope", "storageAccountType": "Premium_LRS"}]
            },
            "storageProfile": {},
        }
    }
    _error(arm.call("PATCH", path, change), 409, "PropertyChangeNotAllowed")
    mode = {"properties": {"publishingProfile": {"replicationMode": "Shallow"}, "storageProfile": {}}}
    _error(arm.call("PATCH", path, mode), 409, "PropertyChangeNotAllowed")
    # Writing back what was read is fine (read-modify-write keeps the stored values).
    same = arm.call("PUT", path, current)
    assert same.status == 200, same.body
    assert arm.wait(same)["status"] == "Succeeded"


def test_removing_a_replicated_region_needs_the_safety_flag(arm: Arm, emulator: Any) -> None:
    image = make_image(arm)
    path = _replicated(arm, emulator, image, regions=["westeurope", "eastus"])
    only_home = {
        "properties": {"publishingProfile": {"targetRegions": [{"name": "westeurope"}]}, "storageProfile": {}}
    }
    _error(arm.call("PATCH", path, only_home), 409, "OperationNotAllowed")
    allowed = {
        "properties": {
            **only_home["properties"],
            "safetyProfile": {"allowDeletionOfReplicatedLocations": True},
        }
    }
    answer = arm.call("PATCH", path, allowed)
    assert answer.status == 200, answer.body
    assert arm.wait(answer)["status"] == "Succeeded"
    regions = arm.call("GET", path).body["properties"]["publishingProfile"]["targetRegions"]
    assert [r["name"] for r in regions] == ["West Europe"]


# -- end of life -------------------------------------------------------------------------------------


def test_2026_03_03_defaults_end_of_life_and_block_deletion(arm: Arm) -> None:
    image = make_image(arm)
    body = _create_version(arm, image).body["properties"]
    profile = body["publishingProfile"]
    published = datetime.fromisoformat(profile["publishedDate"])
    end_of_life = datetime.fromisoformat(profile["endOfLifeDate"])
    assert 181 <= (end_of_life - published).days <= 184
    assert body["safetyProfile"]["blockDeletionBeforeEndOfLife"] is True
    assert body["safetyProfile"]["allowDeletionOfReplicatedLocations"] is False


def test_older_api_versions_get_no_end_of_life_default(arm: Arm) -> None:
    image = make_image(arm)
    body = _create_version(arm, image, api="2025-03-03").body["properties"]
    assert "endOfLifeDate" not in body["publishingProfile"]
    assert body["safetyProfile"]["blockDeletionBeforeEndOfLife"] is False
    assert body["publishingProfile"]["storageAccountStrategy"] == "PreferStandard_ZRS"
    old = _create_version(arm, image, "1.0.1", api="2021-07-01").body["properties"]["publishingProfile"]
    assert old["storageAccountType"] == "Standard_LRS"
    assert "storageAccountStrategy" not in old


def test_explicit_values_override_the_defaults(arm: Arm) -> None:
    image = make_image(arm)
    body = version_body(blockDeletionBeforeEndOfLife=False)
    body["properties"]["publishingProfile"]["endOfLifeDate"] = "2030-01-01T00:00:00Z"
    answer = arm.call("PUT", f"{image}/versions/1.0.0", body)
    props = answer.body["properties"]
    assert props["publishingProfile"]["endOfLifeDate"].startswith("2030-01-01T00:00:00")
    assert props["safetyProfile"]["blockDeletionBeforeEndOfLife"] is False


def test_delete_before_end_of_life_is_refused(arm: Arm, emulator: Any) -> None:
    image = make_image(arm)
    path = _replicated(arm, emulator, image)
    answer = arm.call("DELETE", path)
    _error(answer, 409, "OperationNotAllowed")
    assert "end of life" in answer.body["error"]["message"]
    end_of_life = arm.call("GET", path).body["properties"]["publishingProfile"]["endOfLifeDate"]
    emulator.set_time((datetime.fromisoformat(end_of_life) + timedelta(minutes=1)).isoformat())
    deleted = arm.call("DELETE", path)
    assert deleted.status == 202
    assert deleted.headers["location"].startswith(arm.emulator.endpoint)
    assert "monitor=true" in deleted.headers["location"]
    assert arm.wait(deleted)["status"] == "Succeeded"
    _error(arm.call("GET", path), 404, "ResourceNotFound")


# -- parents and children ----------------------------------------------------------------------------


def test_nested_resources_block_deletes(arm: Arm) -> None:
    image = make_image(arm)
    _create_version(arm, image, api="2025-03-03")
    _error(arm.call("DELETE", image), 409, "CannotDeleteResource")
    _error(arm.call("DELETE", gallery_path("gal")), 409, "CannotDeleteResource")


def test_missing_parents_are_404(arm: Arm) -> None:
    answer = arm.call("PUT", f"{gallery_path('nope')}/images/img", image_body())
    _error(answer, 404, "ParentResourceNotFound")
    arm.wait(arm.call("PUT", gallery_path("gal"), {"location": "westeurope"}))
    answer = arm.call("PUT", f"{gallery_path('gal')}/images/nope/versions/1.0.0", version_body())
    _error(answer, 404, "ParentResourceNotFound")
    _error(arm.call("GET", f"{gallery_path('gal')}/images/nope/versions"), 404, "ParentResourceNotFound")


def test_missing_resources_are_404_and_deleting_them_is_204(arm: Arm) -> None:
    _error(arm.call("GET", gallery_path("nope")), 404, "ResourceNotFound")
    _error(arm.call("PATCH", gallery_path("nope"), {"tags": {}}), 404, "ResourceNotFound")
    assert arm.call("DELETE", gallery_path("nope")).status == 204


def test_image_definition_requires_identifier_and_os(arm: Arm) -> None:
    arm.wait(arm.call("PUT", gallery_path("gal"), {"location": "westeurope"}))
    body = image_body()
    del body["properties"]["identifier"]
    _error(arm.call("PUT", f"{gallery_path('gal')}/images/img", body), 400, "InvalidParameter")


def test_version_requires_a_source(arm: Arm) -> None:
    image = make_image(arm)
    body = version_body()
    body["properties"]["storageProfile"] = {}
    _error(arm.call("PUT", f"{image}/versions/1.0.0", body), 400, "InvalidParameter")


# -- tags ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "tags",
    [
        {f"t{i}": "v" for i in range(51)},
        {"bad<name": "v"},
        {"a/b": "v"},
        {"q?": "v"},
        {"x" * 513: "v"},
        {"ok": "v" * 257},
    ],
    ids=["51-tags", "lt", "slash", "question", "long-name", "long-value"],
)
def test_tag_limits(arm: Arm, tags: dict[str, str]) -> None:
    _error(arm.call("PUT", gallery_path("g"), {"location": "westeurope", "tags": tags}), 400, "InvalidTag")


def test_tags_at_the_limits_are_accepted(arm: Arm) -> None:
    tags = {f"t{i:02d}": "v" for i in range(49)}
    tags["n" * 512] = "v" * 256
    answer = arm.call("PUT", gallery_path("g"), {"location": "westeurope", "tags": tags})
    assert answer.status == 201, answer.body
    assert answer.body["tags"] == tags
