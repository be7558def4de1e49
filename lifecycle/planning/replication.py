"""Replication: the target regions and replica counts a version should have, and promotion into `latest`
once every region is done. Pure functions; no I/O, no clock."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from lifecycle.actions import Action, ActionKind
from lifecycle.model import ObservedVersion, TargetRegion
from lifecycle.notifications import Notification, NotificationType
from lifecycle.planning.healing import region_entry
from lifecycle.policy import Replication

_as_json = region_entry


def region_encryption(
    policy: Replication, version: ObservedVersion, region: str
) -> tuple[dict[str, Any] | None, str | None]:
    """The `encryption` for a region added to a version encrypted with customer-managed keys: the policy's
    disk encryption set for that region on the OS disk and on every data disk (by lun) the version's
    other regions encrypt. (None, why) when the region cannot be added encrypted."""
    template = next((r.encryption for r in version.target_regions if r.name == version.location), None)
    template = template or next((r.encryption for r in version.target_regions if r.encryption), None)
    if template is None:
        return None, None
    des = policy.disk_encryption_sets.get(region)
    if des is None:
        return None, (
            f"region {region} not added: the version is encrypted with customer-managed keys and "
            f"replication.disk_encryption_sets names no disk encryption set for {region}"
        )
    os_disk = template.get("osDiskImage")
    if isinstance(os_disk, Mapping) and os_disk.get("securityProfile"):
        return None, (
            f"region {region} not added: the version's OS disk uses a confidential VM encryption set, "
            "which the policy cannot name"
        )
    encryption: dict[str, Any] = {}
    if isinstance(os_disk, Mapping):
        encryption["osDiskImage"] = {"diskEncryptionSetId": des}
    data = template.get("dataDiskImages")
    if isinstance(data, tuple | list) and data:
        encryption["dataDiskImages"] = [
            {"lun": d.get("lun"), "diskEncryptionSetId": des} for d in data if isinstance(d, Mapping)
        ]
    if not encryption:
        encryption["osDiskImage"] = {"diskEncryptionSetId": des}
    return encryption, None


def desired_regions(
    policy: Replication,
    version: ObservedVersion,
    *,
    remove: frozenset[str] = frozenset(),
    readd: Mapping[str, TargetRegion] | None = None,
) -> tuple[tuple[TargetRegion, ...], list[str]]:
    """Target regions after applying the policy, and notes about regions kept against the policy or not
    added.

    The home region always stays; existing regions keep their storage type (ARM forbids changing it) and
    every field the app does not own; regions the policy no longer names go only with `prune_regions`
    and only where Azure allows it. A region added to a version encrypted with customer-managed keys gets
    the policy's disk encryption set for it, or is not added. Healing may `remove` failed regions for one
    update and `readd` them (as they were) in the next.
    """
    notes: list[str] = []
    readd = readd or {}
    current = {r.name: r for r in version.target_regions}
    if not current:
        # A version created without targetRegions replicates to its home region only.
        current = {version.location: TargetRegion(version.location, version.replica_count or 1)}
    result: dict[str, TargetRegion] = {}
    for name, region in current.items():
        wanted = policy.regions.get(name)
        if name in remove:
            continue
        if isinstance(wanted, int):
            result[name] = replace(region, replica_count=wanted)
        elif wanted is not None or name == version.location:  # `auto` not worked out: kept as it is
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
    for name, region in readd.items():
        if name not in result:
            result[name] = region
    for name, count in policy.regions.items():
        if name in result or name in remove:
            continue
        extra: dict[str, Any] = {}
        if version.encrypted:
            encryption, why = region_encryption(policy, version, name)
            if encryption is None:
                notes.append(why or f"region {name} not added")
                continue
            extra["encryption"] = encryption
        replicas = count if isinstance(count, int) else 1  # `auto` not worked out: the minimum
        result[name] = TargetRegion(name, replicas, policy.storage_account_type, None, extra)
    ordered = tuple(sorted(result.values(), key=lambda r: (r.name != version.location, r.name)))
    return ordered, notes


def _counts(regions: tuple[TargetRegion, ...], default: int | None) -> dict[str, int | None]:
    return {r.name: r.replica_count if r.replica_count is not None else default for r in regions}


def plan_replication(
    policy: Replication,
    version: ObservedVersion,
    *,
    remove: frozenset[str] = frozenset(),
    readd: Mapping[str, TargetRegion] | None = None,
    heal_reason: str | None = None,
    reason: str | None = None,
) -> tuple[list[Action], list[str]]:
    """The replicate action a version needs, if any. `heal_reason` forces an update (a retry of failed
    regions is an update of the version, even with nothing to change); `reason` says why the regions are
    what they are (demand, an older version's shrink)."""
    if not policy.regions and not heal_reason:
        return [], []
    desired, notes = desired_regions(policy, version, remove=remove, readd=readd)
    current = version.target_regions or (TargetRegion(version.location, version.replica_count or 1),)
    default = version.replica_count or 1
    before, after = _counts(current, default), _counts(desired, default)
    if before == after and not heal_reason:
        return [], notes
    added = sorted(set(after) - set(before))
    why = reason
    if heal_reason:
        reason = heal_reason
    else:
        reason = f"add regions {', '.join(added)}" if added else "adjust regions and replica counts"
    if why:
        reason = f"{reason}: {why}"
    notifications: tuple[Notification, ...] = ()
    if added or before != after:
        notifications = (
            Notification(
                NotificationType.VERSION_REPLICATING,
                version.ref.id,
                {"regions": after, "added": added},
            ),
        )
    action = Action(
        kind=ActionKind.REPLICATE,
        target=version.ref.id,
        reason=reason,
        before={"target_regions": before},
        after={
            "target_regions": after,
            "regions": [_as_json(r) for r in desired],
            **({"heal": heal_reason} if heal_reason else {}),
        },
        notifications=notifications,
    )
    return [action], notes


def policy_regions_present(policy: Replication, version: ObservedVersion) -> bool:
    names = {r.name for r in version.target_regions} or {version.location}
    return set(policy.regions) <= names
