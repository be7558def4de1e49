"""`permissions`: derived from the policy alone, one assignment per scope, at the narrowest scope."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lifecycle.cli import main
from lifecycle.permissions import GALLERY_ACTIONS, IN_USE_ACTIONS, TEMPLATE_ACTIONS, derive, render
from lifecycle.policy import PolicyError, parse_policy

S1 = "00000000-0000-0000-0000-000000000001"
S2 = "00000000-0000-0000-0000-000000000002"
S3 = "00000000-0000-0000-0000-000000000003"
GALLERY = f"/subscriptions/{S1}/resourceGroups/rg-images/providers/Microsoft.Compute/galleries/golden"
OTHER_GALLERY = f"/subscriptions/{S2}/resourceGroups/rg-more/providers/Microsoft.Compute/galleries/more"
BUILDER = "providers/Microsoft.VirtualMachineImages/imageTemplates"
TEMPLATE = f"/subscriptions/{S3}/resourceGroups/rg-builds/{BUILDER}/t"

GALLERY_SET = [name for name, _ in GALLERY_ACTIONS]
IN_USE_SET = [name for name, _ in IN_USE_ACTIONS]
TEMPLATE_SET = [name for name, _ in TEMPLATE_ACTIONS]


def policy(galleries: list[dict[str, Any]], defaults: dict[str, Any] | None = None) -> Any:
    return parse_policy(json.dumps({"schema": 1, "defaults": defaults or {}, "galleries": galleries}))


def assignments(document: Any) -> dict[str, list[str]]:
    return {a["scope"]: a["actions"] for a in derive(document).to_json()["assignments"]}


def test_one_gallery_gets_gallery_actions_at_its_group_and_machine_reads_at_its_subscription() -> None:
    assert assignments(policy([{"id": GALLERY}])) == {
        f"/subscriptions/{S1}": IN_USE_SET,
        f"/subscriptions/{S1}/resourceGroups/rg-images": GALLERY_SET,
    }


def test_consumer_subscriptions_and_a_second_gallery_add_their_scopes() -> None:
    got = assignments(policy([{"id": GALLERY, "consumer_subscriptions": [S3]}, {"id": OTHER_GALLERY}]))
    assert got == {
        f"/subscriptions/{S1}": IN_USE_SET,
        f"/subscriptions/{S1}/resourceGroups/rg-images": GALLERY_SET,
        f"/subscriptions/{S2}": IN_USE_SET,
        f"/subscriptions/{S2}/resourceGroups/rg-more": GALLERY_SET,
        f"/subscriptions/{S3}": IN_USE_SET,
    }


def test_a_rebake_template_adds_read_and_run_at_its_resource_group_only_when_it_can_be_due() -> None:
    due = {"rebake": {"schedule": "0 4 * * 1", "image_template": TEMPLATE}}
    got = assignments(policy([{"id": GALLERY}], defaults=due))
    assert got[f"/subscriptions/{S3}/resourceGroups/rg-builds"] == TEMPLATE_SET
    # An image that overrides the default template with publish_event does not need it; none left here.
    override = {"*": {"rebake": {"publish_event": True}}}
    got = assignments(policy([{"id": GALLERY, "images": override}], defaults=due))
    assert f"/subscriptions/{S3}/resourceGroups/rg-builds" not in got


def test_a_template_in_the_galleries_group_joins_that_assignment() -> None:
    template = f"/subscriptions/{S1}/resourceGroups/RG-IMAGES/{BUILDER}/t"
    rules = {"*": {"rebake": {"max_age_days": 30, "image_template": template}}}
    got = assignments(policy([{"id": GALLERY, "images": rules}]))
    assert got[f"/subscriptions/{S1}/resourceGroups/rg-images"] == GALLERY_SET + TEMPLATE_SET
    assert len(got) == 2


def test_disk_encryption_sets_add_their_read_at_each_sets_resource_group() -> None:
    des = f"/subscriptions/{S2}/resourceGroups/rg-keys/providers/Microsoft.Compute/diskEncryptionSets/"
    beside = f"/subscriptions/{S1}/resourceGroups/rg-images/providers/Microsoft.Compute/diskEncryptionSets/"
    defaults = {"replication": {"disk_encryption_sets": {"westeurope": des + "west", "eastus": des + "east"}}}
    images = {"ubuntu-*": {"replication": {"disk_encryption_sets": {"japaneast": beside + "japan"}}}}
    got = assignments(policy([{"id": GALLERY, "images": {"*": {}, **images}}], defaults=defaults))
    read = "Microsoft.Compute/diskEncryptionSets/read"
    assert got[f"/subscriptions/{S2}/resourceGroups/rg-keys"] == [read]
    assert got[f"/subscriptions/{S1}/resourceGroups/rg-images"] == [*GALLERY_SET, read]
    assert all(read not in actions for actions in assignments(policy([{"id": GALLERY}])).values())


def test_capsoperations_is_never_asked_for() -> None:
    # Writes are started with polling=False: the app never reads operation status.
    actions = {a for acts in assignments(policy([{"id": GALLERY}])).values() for a in acts}
    assert not any("capsOperations" in a or "/operations/" in a for a in actions)


def test_data_roles_are_kept_apart_from_the_arm_assignments() -> None:
    document = derive(policy([{"id": GALLERY}])).to_json()
    assert set(document) == {"assignments", "data_roles"}
    assert all(set(a) == {"scope", "actions"} for a in document["assignments"])
    roles = {r["role"] for r in document["data_roles"]}
    assert roles == {
        "EventGrid Data Sender",
        "Storage Blob Data Reader",
        "Storage Blob Data Contributor",
        "Storage Queue Data Contributor",
    }


@pytest.mark.parametrize(
    ("value", "message"),
    [("not-a-guid", "is not a subscription id"), ([S2, S2.upper()], "is listed twice")],
    ids=["not-a-guid", "twice"],
)
def test_bad_consumer_subscriptions_are_rejected(value: Any, message: str) -> None:
    value = value if isinstance(value, list) else [value]
    with pytest.raises(PolicyError, match=message):
        policy([{"id": GALLERY, "consumer_subscriptions": value}])


def test_cli_prints_the_json_and_the_readable_form(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "policy.json"
    path.write_text(json.dumps({"schema": 1, "galleries": [{"id": GALLERY}]}))

    assert main(["permissions", "--config", str(path), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == derive(parse_policy(path.read_text())).to_json()

    assert main(["permissions", "--config", str(path)]) == 0
    text = capsys.readouterr().out
    assert f"/subscriptions/{S1}/resourceGroups/rg-images" in text and "for: gallery golden" in text
    assert text.strip() == render(derive(parse_policy(path.read_text()))).strip()


def test_cli_rejects_a_bad_policy_with_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "policy.json"
    path.write_text(json.dumps({"schema": 1, "galleries": []}))
    assert main(["permissions", "--config", str(path)]) == 2
    assert "galleries" in capsys.readouterr().err
    assert main(["permissions", "--config", str(tmp_path / "missing.yaml")]) == 2


@pytest.mark.parametrize(
    "defaults",
    [
        {"rebake": {"on_base_update": True, "publish_event": True}},
        {"rebake": {"on_base_deprecation": True, "publish_event": True}},
        {"retention": {"cap_at_base_deprecation": True}},
    ],
    ids=["on_base_update", "on_base_deprecation", "cap_at_base_deprecation"],
)
def test_reading_marketplace_bases_grants_the_marketplace_read_at_the_subscription(
    defaults: dict[str, Any],
) -> None:
    marketplace = "Microsoft.Compute/locations/publishers/artifacttypes/offers/skus/versions/read"
    granted = assignments(policy([{"id": GALLERY}], defaults))
    assert granted[f"/subscriptions/{S1}"] == [*IN_USE_SET, marketplace]
    assert marketplace not in assignments(policy([{"id": GALLERY}]))[f"/subscriptions/{S1}"]
