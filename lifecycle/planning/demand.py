"""Replicas from demand: a region whose count is `auto` gets ceil(demand / 20) replicas, at least 1 and at
most `replication.replicas_max`. Pure.

Source of the ratio: Microsoft's guidance for galleries, "Store and share images in an Azure Compute
Gallery" (https://learn.microsoft.com/azure/virtual-machines/shared-image-galleries, Scaling): keep one
replica for every 20 VMs created concurrently; Azure's resilience recommendations mark it as having no
automation. Demand in a region is the VMs that run the version there plus the capacity of the scale sets
there that deploy it; scale sets that follow `latest` count toward the newest eligible version, the one
their next instance gets.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from lifecycle.model import ImageUsage, ObservedImage, ObservedVersion, version_key
from lifecycle.policy import Replication

VMS_PER_REPLICA = 20


def newest_eligible(image: ObservedImage) -> str | None:
    """The version `latest` gives a new machine: the highest healthy version not excluded from latest."""
    eligible = [v for v in image.versions if v.healthy and not v.exclude_from_latest]
    return max(eligible, key=lambda v: version_key(v.name)).name if eligible else None


def replicas_for(demand: int, most: int) -> int:
    return min(max(1, math.ceil(demand / VMS_PER_REPLICA)), most)


def resolve_auto(
    replication: Replication,
    version: ObservedVersion,
    usage: ImageUsage | None,
    *,
    newest: bool,
    current: Mapping[str, int],
) -> tuple[dict[str, int], list[str], str | None]:
    """The policy's region counts with every `auto` worked out for `version`; notes, and the reason part
    naming the demand used (None when no region is `auto`)."""
    counts: dict[str, int] = {}
    notes: list[str] = []
    used: list[str] = []
    for region, count in replication.regions.items():
        if count != "auto":
            counts[region] = count
            continue
        if usage is None or not usage.complete:
            kept = current.get(region) or 1
            counts[region] = kept
            why = usage.problem if usage is not None and usage.problem else "in-use inventory not read"
            notes.append(f"region {region}: auto count kept at {kept}, demand unknown ({why})")
            continue
        demand = usage.demand_in(version.ref, region, newest=newest)
        counts[region] = replicas_for(demand, replication.replicas_max)
        used.append(f"{region} demand {demand} -> {counts[region]}")
    if not used:
        return counts, notes, None
    rule = f"ceil(demand / {VMS_PER_REPLICA}), 1..{replication.replicas_max}"
    return counts, notes, f"replicas from demand: {', '.join(used)} ({rule})"
