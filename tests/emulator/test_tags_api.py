"""ARM's Tags API at a resource's scope (emulator/tags.py): Merge, Replace, Delete and GET with the spec's
semantics and the tag limits, authorized as `Microsoft.Resources/tags/<verb>` at the resource's scope."""

from __future__ import annotations

from typing import Any

import pytest

from tests.emulator.conftest import RG, SUB, Arm, advance, make_image, version_body
from tests.harness.services import Emulator

TAGS_API = "2022-09-01"
RG_SCOPE = f"/subscriptions/{SUB}/resourceGroups/{RG}"


def make_version(arm: Arm, emulator: Emulator, tags: dict[str, str] | None = None) -> str:
    path = f"{make_image(arm)}/versions/1.0.0"
    body = version_body()
    if tags:
        body["tags"] = tags
    answer = arm.call("PUT", path, body)
    assert answer.status in (200, 201), answer.body
    advance(emulator, 120)  # replication done: the version takes writes
    return path


def patch_tags(arm: Arm, path: str, operation: str, tags: dict[str, str]) -> Any:
    return arm.call(
        "PATCH",
        f"{path}/providers/Microsoft.Resources/tags/default",
        {"operation": operation, "properties": {"tags": tags}},
        api_version=TAGS_API,
    )


def tags_of(arm: Arm, path: str) -> dict[str, str]:
    return dict(arm.call("GET", path).body.get("tags") or {})


def test_merge_adds_and_updates_and_keeps_every_other_tag(emulator: Emulator, arm: Arm) -> None:
    path = make_version(arm, emulator, {"lifecycle.hold": "true", "Owner": "ops"})
    answer = patch_tags(arm, path, "Merge", {"lifecycle.state": "active", "owner": "platform"})
    assert answer.status == 200
    # TagsResource: the tags at the scope after the operation.
    assert answer.body["type"] == "Microsoft.Resources/tags" and answer.body["name"] == "default"
    assert answer.body["id"].lower() == f"{path}/providers/Microsoft.Resources/tags/default".lower()
    expected = {"lifecycle.hold": "true", "Owner": "platform", "lifecycle.state": "active"}
    assert answer.body["properties"]["tags"] == expected
    assert tags_of(arm, path) == expected  # names are case-insensitive: Owner was updated, not doubled
    got = arm.call("GET", f"{path}/providers/Microsoft.Resources/tags/default", api_version=TAGS_API)
    assert got.status == 200 and got.body["properties"]["tags"] == expected


def test_replace_and_delete(emulator: Emulator, arm: Arm) -> None:
    path = make_version(arm, emulator, {"a": "1", "b": "2", "c": "3"})
    assert patch_tags(arm, path, "Delete", {"a": "", "b": "other"}).status == 200
    assert tags_of(arm, path) == {"b": "2", "c": "3"}  # a value that does not match deletes nothing
    assert patch_tags(arm, path, "Replace", {"z": "9"}).status == 200
    assert tags_of(arm, path) == {"z": "9"}


def test_the_limits_hold_at_the_end_of_the_operation(emulator: Emulator, arm: Arm) -> None:
    path = make_version(arm, emulator, {f"t{i}": "x" for i in range(49)})
    assert patch_tags(arm, path, "Merge", {"t0": "y", "new": "1"}).status == 200  # 50 in all
    too_many = patch_tags(arm, path, "Merge", {"one-more": "1"})
    assert too_many.status == 400 and too_many.code == "InvalidTag"
    assert len(tags_of(arm, path)) == 50  # nothing of a refused operation is applied
    assert patch_tags(arm, path, "Merge", {"bad/name": "1"}).code == "InvalidTag"
    assert patch_tags(arm, path, "Merge", {"t1": "v" * 257}).code == "InvalidTag"


@pytest.mark.parametrize(
    ("operation", "body_tags"), [("merge", {"a": "1"}), ("Append", {"a": "1"}), ("Merge", None)]
)
def test_a_bad_request_is_refused_by_name(
    emulator: Emulator, arm: Arm, operation: str, body_tags: dict[str, str] | None
) -> None:
    path = make_version(arm, emulator)
    body: dict[str, Any] = {"operation": operation, "properties": {"tags": body_tags}}
    answer = arm.call(
        "PATCH", f"{path}/providers/Microsoft.Resources/tags/default", body, api_version=TAGS_API
    )
    assert answer.status == 400 and answer.code == "InvalidRequestContent"


def test_a_busy_version_or_a_missing_one_takes_no_tags(emulator: Emulator, arm: Arm) -> None:
    path = make_version(arm, emulator)
    regions = [{"name": "westeurope"}, {"name": "eastus"}]  # a region added: replication runs a while
    update = arm.call(
        "PATCH",
        path,
        {"properties": {"publishingProfile": {"targetRegions": regions}, "storageProfile": {}}},
    )
    assert update.status == 200
    assert arm.call("GET", path).body["properties"]["provisioningState"] == "Updating"
    busy = patch_tags(arm, path, "Merge", {"a": "1"})
    assert busy.status == 409 and busy.code == "OperationNotAllowed"
    missing = patch_tags(arm, path.replace("1.0.0", "9.9.9"), "Merge", {"a": "1"})
    assert missing.status == 404


def test_tag_writes_need_the_tags_action_at_the_scope_not_the_resources_write(
    emulator: Emulator, arm: Arm
) -> None:
    path = make_version(arm, emulator)
    emulator.set_rbac([{"scope": RG_SCOPE, "actions": ["Microsoft.Compute/*"]}], None)
    denied = patch_tags(arm, path, "Merge", {"a": "1"})
    assert denied.status == 403 and denied.code == "AuthorizationFailed"
    assert "'Microsoft.Resources/tags/write'" in denied.body["error"]["message"]
    emulator.set_rbac(
        [{"scope": RG_SCOPE, "actions": ["Microsoft.Resources/tags/write", "Microsoft.Compute/*/read"]}],
        None,
    )
    assert patch_tags(arm, path, "Merge", {"a": "1"}).status == 200
    assert tags_of(arm, path) == {"a": "1"}


def test_an_api_version_outside_the_window_is_refused(emulator: Emulator, arm: Arm) -> None:
    path = make_version(arm, emulator)
    answer = arm.call(
        "PATCH",
        f"{path}/providers/Microsoft.Resources/tags/default",
        {"operation": "Merge", "properties": {"tags": {"a": "1"}}},
        api_version="2016-01-01",
    )
    assert answer.status == 400 and answer.code == "InvalidApiVersionParameter"
    assert emulator.stats()["by_operation"]["PATCH Microsoft.Resources/tags"] >= 1
