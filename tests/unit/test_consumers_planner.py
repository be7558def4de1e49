"""Who runs what, from an inventory: references resolved (exact, latest by exactVersion, shared,
community), usage and demand per region, consumers per version, production machines on latest."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from lifecycle.inventory import (
    INSTANCE,
    SCALE_SET,
    VM,
    GalleryNames,
    Inventory,
    Machine,
    SubscriptionInventory,
)
from lifecycle.model import parse_resource_id
from lifecycle.planning.consumers import ConsumerRules, consumers, resolve, usage

SUB = "00000000-0000-0000-0000-000000000001"
GALLERY = f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Compute/galleries/golden"
IMAGE = f"{GALLERY}/images/ubuntu"
NAMES = GalleryNames(
    shared={f"{SUB}-golden".lower(): parse_resource_id(GALLERY)},  # type: ignore[dict-item]
    community={"contoso-1": parse_resource_id(GALLERY)},  # type: ignore[dict-item]
)
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def machine(name: str, kind: str, reference: dict[str, str], region: str = "eastus", **extra: Any) -> Machine:
    return Machine(f"/subscriptions/{SUB}/x/{name}", kind, SUB, region, reference, **extra)


@pytest.mark.parametrize(
    ("reference", "version", "via", "follows"),
    [
        ({"id": f"{IMAGE}/versions/1.0.0"}, "1.0.0", "exact", False),
        ({"id": IMAGE, "exactVersion": "1.0.1"}, "1.0.1", "latest", True),
        ({"id": f"{IMAGE}/versions/latest"}, None, "latest", True),
        (
            {"sharedGalleryImageId": f"/SharedGalleries/{SUB}-GOLDEN/Images/ubuntu/Versions/1.0.0"},
            "1.0.0",
            "shared",
            False,
        ),
        (
            {
                "sharedGalleryImageId": f"/SharedGalleries/{SUB}-GOLDEN/Images/ubuntu/Versions/latest",
                "exactVersion": "2.0.0",
            },
            "2.0.0",
            "shared",
            True,
        ),
        ({"communityGalleryImageId": "/communitygalleries/CONTOSO-1/images/ubuntu"}, None, "community", True),
    ],
    ids=["exact", "latest-exact-version", "versions-latest", "shared", "shared-latest", "community-latest"],
)
def test_references_resolve(reference: dict[str, str], version: str | None, via: str, follows: bool) -> None:
    use = resolve(reference, NAMES)
    assert use is not None
    assert (use.version.name if use.version else None, use.via, use.follows_latest) == (version, via, follows)


@pytest.mark.parametrize(
    "reference",
    [
        {"sharedGalleryImageId": "/SharedGalleries/elsewhere/Images/ubuntu/Versions/1.0.0"},
        {"id": "/subscriptions/x/resourceGroups/rg/providers/Microsoft.Compute/images/managed"},
        {},
    ],
    ids=["another-publisher", "managed-image", "none"],
)
def test_foreign_references_are_not_ours(reference: dict[str, str]) -> None:
    assert resolve(reference, NAMES) is None


def inventory(*machines: Machine) -> Inventory:
    return Inventory((SubscriptionInventory(SUB, T0, machines),))


def test_usage_counts_running_regions_and_demand() -> None:
    v1 = parse_resource_id(f"{IMAGE}/versions/1.0.0")
    found = usage(
        inventory(
            machine("a", VM, {"id": f"{IMAGE}/versions/1.0.0"}, "westeurope"),
            machine("b", SCALE_SET, {"id": f"{IMAGE}/versions/1.0.0"}, capacity=30),
            machine("c", SCALE_SET, {"id": IMAGE}, capacity=50),
            machine("c/0", INSTANCE, {"id": IMAGE, "exactVersion": "1.0.0"}, "northeurope"),
            # A Flexible scale set's VM: its scale set's capacity counts it already.
            machine("flex-vm", VM, {"id": f"{IMAGE}/versions/1.0.0"}, "westeurope", scale_set="/x/flex"),
        ),
        NAMES,
    )
    assert found.references(v1)  # type: ignore[arg-type]
    assert found.regions_running(v1) == {"westeurope", "eastus", "northeurope"}  # type: ignore[arg-type]
    assert found.demand_in(v1, "eastus", newest=False) == 30  # type: ignore[arg-type]
    assert found.demand_in(v1, "eastus", newest=True) == 80  # type: ignore[arg-type]
    assert found.demand_in(v1, "westeurope", newest=False) == 1  # type: ignore[arg-type]


def test_consumers_per_version_with_owner_and_production_and_latest_in_production() -> None:
    rules = ConsumerRules("owner", {"env": "prod"})
    web = machine("web", SCALE_SET, {"id": IMAGE}, tags={"Owner": "team-web", "ENV": "Prod"}, capacity=2)
    found = consumers(
        [
            machine("pinned", VM, {"id": f"{IMAGE}/versions/1.0.0"}, tags={"owner": "team-a"}),
            web,
            Machine(
                f"{web.id}/virtualMachines/0",
                INSTANCE,
                SUB,
                "eastus",
                {"id": IMAGE, "exactVersion": "1.0.1"},
                scale_set=web.id,
            ),
        ],
        NAMES,
        rules,
    )
    listed = found.to_json()
    assert [v["version"].rsplit("/", 1)[-1] for v in listed["versions"]] == ["1.0.0", "1.0.1"]
    [pinned] = listed["versions"][0]["consumers"]
    assert (pinned["kind"], pinned["via"], pinned["owner"], pinned["production"]) == (
        "vm",
        "exact",
        "team-a",
        False,
    )
    on_latest = listed["versions"][1]["consumers"]
    assert {(c["kind"], c["owner"], c["production"]) for c in on_latest} == {
        ("instance", "team-web", True),
        ("scale_set", "team-web", True),
    }
    [latest] = listed["latest_in_production"]
    assert latest["id"] == web.id and latest["image"] == IMAGE and latest["owner"] == "team-web"
