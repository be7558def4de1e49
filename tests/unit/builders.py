"""Builders for observed state and policies in pure unit tests (no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from lifecycle.model import (
    ImageRef,
    ObservedImage,
    ObservedVersion,
    ProvisioningState,
    RegionStatus,
    ReplicationState,
    TargetRegion,
)
from lifecycle.policy import ImagePolicy, parse_policy

SUB = "00000000-0000-0000-0000-000000000001"
GALLERY_ID = f"/subscriptions/{SUB}/resourceGroups/rg-images/providers/Microsoft.Compute/galleries/golden"
IMAGE = ImageRef(SUB, "rg-images", "golden", "ubuntu-24.04")
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def policy(
    defaults: dict[str, Any] | None = None, images: dict[str, Any] | None = None, mode: str = "enforce"
) -> ImagePolicy:
    import json

    document = {
        "schema": 1,
        "mode": mode,
        "defaults": defaults or {},
        "galleries": [{"id": GALLERY_ID, "images": images or {"*": {}}}],
    }
    resolved = parse_policy(json.dumps(document)).for_image(IMAGE)
    assert resolved is not None
    return resolved


def version(
    name: str,
    *,
    published: datetime = T0,
    regions: dict[str, int] | None = None,
    state: ProvisioningState = ProvisioningState.SUCCEEDED,
    tags: dict[str, str] | None = None,
    eol: datetime | None = None,
    excluded: bool = False,
    location: str = "eastus",
    allow_region_delete: bool = False,
    storage: str | None = None,
    status: dict[str, str] | None = None,
    extra: dict[str, dict[str, Any]] | None = None,
) -> ObservedVersion:
    """`status`: region -> replication state (as `$expand=ReplicationStatus` reports it; None = not read).
    `extra`: region -> the region's other wire fields (encryption, additionalReplicaSets, ...)."""
    targets = tuple(
        TargetRegion(r, c, storage, None, (extra or {}).get(r, {}))
        for r, c in (regions or {location: 1}).items()
    )
    summary = tuple(
        RegionStatus(
            r, ReplicationState(s), details="Failed with internal server error." if s == "Failed" else None
        )
        for r, s in (status or {}).items()
    )
    return ObservedVersion(
        ref=IMAGE.version(name),
        location=location,
        provisioning_state=state,
        published=published,
        end_of_life=eol,
        exclude_from_latest=excluded,
        target_regions=targets,
        tags=tags or {},
        allow_deletion_of_replicated_locations=allow_region_delete,
        region_status=summary,
    )


def completed(regions: dict[str, int]) -> dict[str, str]:
    return dict.fromkeys(regions, "Completed")


def image(*versions: ObservedVersion) -> ObservedImage:
    return ObservedImage(ref=IMAGE, location="eastus", versions=versions)


def kinds(plan: Any) -> list[str]:
    """The kinds of a plan's actions, sorted."""
    return sorted(a.kind.value for a in plan.actions)


def days(n: float) -> timedelta:
    return timedelta(days=n)
