"""Replication: the target regions and replica counts a version should have, and promotion into `latest`
once every region is done. Pure functions; no I/O, no clock."""

from __future__ import annotations

from typing import Any

from lifecycle.actions import Action, ActionKind
from lifecycle.model import ObservedVersion, TargetRegion
from lifecycle.notifications import Notification, NotificationType
from lifecycle.policy import Replication


def _as_json(region: TargetRegion) -> dict[str, Any]:
    return {
        "name": region.name,
        "replica_count": region.replica_count,
        "storage_account_type": region.storage_account_type,
        "exclude_from_latest": region.exclude_from_latest,
    }


def desired_regions(
    policy: Replication, version: ObservedVersion
) -> tuple[tuple[TargetRegion, ...], list[str]]:
    """Target regions after applying the policy, and notes about regions kept against the policy.

    The home region always stays; existing regions keep their storage type (ARM forbids changing it);
    regions the policy no longer names go only with `prune_regions` and only where Azure allows it.
    """
    notes: list[str] = []
    current = {r.name: r for r in version.target_regions}
    if not current:
        # A version created without targetRegions replicates to its home region only.
        current = {version.location: TargetRegion(version.location, version.replica_count or 1)}
    result: dict[str, TargetRegion] = {}
    for name, region in current.items():
        wanted = policy.regions.get(name)
        if wanted is not None:
            result[name] = TargetRegion(name, wanted, region.storage_account_type, region.exclude_from_latest)
        elif name == version.location:
            result[name] = region
        elif policy.prune_regions and version.allow_deletion_of_replicated_locations:
            continue
        else:
            if policy.prune_regions:
                notes.append(
                    f"region {name} kept: removing a replicated region needs "
                    "safetyProfile.allowDeletionOfReplicatedLocations"
                )
            result[name] = region
    for name, count in policy.regions.items():
        if name not in result:
            result[name] = TargetRegion(name, count, policy.storage_account_type, None)
    ordered = tuple(sorted(result.values(), key=lambda r: (r.name != version.location, r.name)))
    return ordered, notes


def _counts(regions: tuple[TargetRegion, ...], default: int | None) -> dict[str, int | None]:
    return {r.name: r.replica_count if r.replica_count is not None else default for r in regions}


def plan_replication(policy: Replication, version: ObservedVersion) -> tuple[list[Action], list[str]]:
    if not policy.regions:
        return [], []
    desired, notes = desired_regions(policy, version)
    current = version.target_regions or (TargetRegion(version.location, version.replica_count or 1),)
    default = version.replica_count or 1
    before, after = _counts(current, default), _counts(desired, default)
    if before == after:
        return [], notes
    added = sorted(set(after) - set(before))
    action = Action(
        kind=ActionKind.REPLICATE,
        target=version.ref.id,
        reason=(f"add regions {', '.join(added)}" if added else "adjust regions and replica counts"),
        before={"target_regions": before},
        after={"target_regions": after, "regions": [_as_json(r) for r in desired]},
        notifications=(
            Notification(
                NotificationType.VERSION_REPLICATING,
                version.ref.id,
                {"regions": after, "added": added},
            ),
        ),
    )
    return [action], notes


def policy_regions_present(policy: Replication, version: ObservedVersion) -> bool:
    names = {r.name for r in version.target_regions} or {version.location}
    return set(policy.regions) <= names
