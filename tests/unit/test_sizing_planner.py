"""Older versions shrinking and replicas from demand, as decision tables over the pure planner; and
VersionExpiring once per version and end-of-life date."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

import pytest

from lifecycle import tags as lt
from lifecycle.actions import ActionKind, thaw
from lifecycle.model import ImageUsage
from lifecycle.notifications import NotificationType
from lifecycle.planning import plan_image
from lifecycle.planning.consumers import Consumer
from lifecycle.planning.demand import replicas_for
from lifecycle.state import ImageState
from tests.unit.builders import IMAGE, T0, days, image, policy, version

ACTIVE = {lt.STATE: lt.STATE_ACTIVE}
FULL = {"eastus": 2, "westeurope": 2, "japaneast": 1}
OLDER = {"regions": FULL, "older": {"after_newest": 1, "regions": {"eastus": 1}}}


def key(name: str) -> str:
    return IMAGE.version(name).key()


def usage(running: dict[str, set[str]] | None = None, **extra: Any) -> ImageUsage:
    return ImageUsage(
        running_regions=MappingProxyType({key(v): frozenset(r) for v, r in (running or {}).items()}), **extra
    )


def replicate(plan: Any, name: str) -> dict[str, Any] | None:
    found = [a for a in plan.actions if a.kind is ActionKind.REPLICATE and a.target.endswith(f"/{name}")]
    return thaw(found[0].after)["target_regions"] if found else None


@pytest.mark.parametrize(
    ("allow", "found", "expected"),
    [
        pytest.param(True, usage(), {"eastus": 1}, id="shrinks-to-older-regions"),
        pytest.param(
            True, usage({"1.0.0": {"westeurope"}}), {"eastus": 1, "westeurope": 2}, id="keeps-region-in-use"
        ),
        pytest.param(
            False, usage(), {"eastus": 1, "westeurope": 2, "japaneast": 1}, id="count-only-without-allow"
        ),
        pytest.param(
            True,
            ImageUsage(complete=False, problem="denied"),
            {"eastus": 1, "westeurope": 2, "japaneast": 1},
            id="inventory-unknown-keeps-regions",
        ),
        pytest.param(
            True, None, {"eastus": 1, "westeurope": 2, "japaneast": 1}, id="no-inventory-keeps-regions"
        ),
    ],
)
def test_older_versions_shrink(allow: bool, found: ImageUsage | None, expected: dict[str, int]) -> None:
    plan = plan_image(
        policy({"replication": OLDER}),
        image(
            version("1.0.0", regions=FULL, tags=ACTIVE, allow_region_delete=allow),
            version("1.0.1", regions=FULL, tags=ACTIVE),
        ),
        T0 + days(1),
        usage=found,
    )
    assert replicate(plan, "1.0.0") == expected
    assert replicate(plan, "1.0.1") is None, "the newest keeps the full regions"


def test_a_shrink_never_adds_nor_raises() -> None:
    plan = plan_image(
        policy(
            {
                "replication": {
                    "regions": FULL,
                    "older": {"after_newest": 1, "regions": {"eastus": 3, "uksouth": 1}},
                }
            }
        ),
        image(
            version("1.0.0", regions={"eastus": 1}, tags=ACTIVE), version("1.0.1", regions=FULL, tags=ACTIVE)
        ),
        T0 + days(1),
        usage=usage(),
    )
    assert replicate(plan, "1.0.0") is None


@pytest.mark.parametrize(
    ("demand", "most", "replicas"),
    [(0, 10, 1), (1, 10, 1), (20, 10, 1), (21, 10, 2), (47, 10, 3), (1000, 10, 10), (1000, 4, 4)],
)
def test_replicas_for_demand(demand: int, most: int, replicas: int) -> None:
    assert replicas_for(demand, most) == replicas


def test_auto_counts_scale_sets_on_latest_toward_the_newest_only() -> None:
    found = ImageUsage(
        demand=MappingProxyType({key("1.0.0"): MappingProxyType({"eastus": 30})}),
        latest_demand=MappingProxyType({IMAGE.key(): MappingProxyType({"eastus": 50})}),
    )
    plan = plan_image(
        policy({"replication": {"regions": {"eastus": "auto"}}}),
        image(version("1.0.0", tags=ACTIVE), version("1.0.1", tags=ACTIVE)),
        T0 + days(1),
        usage=found,
    )
    assert replicate(plan, "1.0.0") == {"eastus": 2}
    assert replicate(plan, "1.0.1") == {"eastus": 3}
    reason = next(a.reason for a in plan.actions if a.target.endswith("/1.0.1"))
    assert "eastus demand 50 -> 3" in reason


def test_auto_without_inventory_keeps_the_count() -> None:
    plan = plan_image(
        policy({"replication": {"regions": {"eastus": "auto"}}}),
        image(version("1.0.0", regions={"eastus": 4}, tags=ACTIVE)),
        T0 + days(1),
    )
    assert replicate(plan, "1.0.0") is None
    [report] = plan.versions
    assert any("auto count kept at 4" in n for n in report.notes)


def test_version_expiring_once_per_version_and_date() -> None:
    running = {"1.0.0": (Consumer("/vm/a", "vm", "s", "eastus", "exact", "team-a", False),)}
    observed = image(
        version("1.0.0", eol=T0 + days(10), tags=ACTIVE), version("1.0.1", eol=T0 + days(10), tags=ACTIVE)
    )
    pol = policy({"retention": {"keep_latest": 5}})

    first = plan_image(pol, observed, T0, warn_days=14, consumers=running)
    [event] = [n for n in first.notifications if n.type is NotificationType.VERSION_EXPIRING]
    assert event.data["consumers"] == 1 and event.data["owners"] == ["team-a"]
    again = plan_image(pol, observed, T0 + days(1), state=first.state, warn_days=14, consumers=running)
    assert not [n for n in again.notifications if n.type is NotificationType.VERSION_EXPIRING]
    moved = image(version("1.0.0", eol=T0 + days(12), tags=ACTIVE))
    later = plan_image(pol, moved, T0 + days(1), state=first.state, warn_days=14, consumers=running)
    assert [n.type for n in later.notifications] == [NotificationType.VERSION_EXPIRING]
    assert ImageState.from_json(later.state.to_json()).warned == {"1.0.0": (T0 + days(12)).date().isoformat()}
    assert not plan_image(pol, observed, T0, warn_days=5, consumers=running).notifications


@pytest.mark.parametrize(
    ("replication", "problem"),
    [
        (
            {"regions": {"eastus": "many"}},
            "region 'eastus': 'many' is neither a replica count (1-100) nor 'auto'",
        ),
        ({"regions": {"eastus": 0}}, "region 'eastus': 0 is neither"),
        ({"regions": {"eastus": True}}, "region 'eastus': True is neither"),
        ({"older": {"after_newest": 1, "regions": {"eastus": "auto"}}}, "older.regions.eastus"),
        ({"older": {"after_newest": 0, "regions": {"eastus": 1}}}, "older.after_newest"),
        ({"older": {"after_newest": 1, "regions": {"eastsu": 1}}}, "did you mean 'eastus'"),
        ({"replicas_max": 0}, "replicas_max"),
    ],
    ids=["word", "zero", "bool", "auto-in-older", "older-zero", "older-misspelt", "max-zero"],
)
def test_bad_sizing_keys_are_refused_by_path(replication: dict[str, Any], problem: str) -> None:
    import json

    from lifecycle.policy import PolicyError, parse_policy

    document = {
        "schema": 1,
        "defaults": {"replication": replication},
        "galleries": [{"id": IMAGE.gallery_ref.id}],
    }
    with pytest.raises(PolicyError) as caught:
        parse_policy(json.dumps(document))
    assert problem in str(caught.value), caught.value
