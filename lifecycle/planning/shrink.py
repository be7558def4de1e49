"""Older versions shrink (`replication.older`): versions past the newest N healthy ones keep only the
regions and replica counts the policy names for them. Pure.

A region stays while a machine there runs the version (the in-use inventory says where; when it cannot
say, every region stays), the home region always stays, and a region goes only where the version's
`safetyProfile.allowDeletionOfReplicatedLocations` allows removing it (replication.desired_regions notes
it kept otherwise). Lowering a replica count needs no such flag. A shrink never adds a region nor raises a
count: old versions kept in every region cost the most for the least use.
"""

from __future__ import annotations

from lifecycle.model import ImageUsage, ObservedImage, ObservedVersion, version_key
from lifecycle.policy import OlderReplication, Replication


def older_names(image: ObservedImage, older: OlderReplication | None) -> frozenset[str]:
    """Healthy versions past the newest `after_newest` healthy ones."""
    if older is None:
        return frozenset()
    healthy = sorted((v for v in image.versions if v.healthy), key=lambda v: version_key(v.name))
    return frozenset(v.name for v in healthy[: max(0, len(healthy) - older.after_newest)])


def shrunk(
    replication: Replication, older: OlderReplication, version: ObservedVersion, usage: ImageUsage | None
) -> tuple[Replication, list[str], str]:
    """The replication an older version should have, the notes, and the reason for the write."""
    default = version.replica_count or 1
    current = {r.name: (r.replica_count or default) for r in version.target_regions} or {
        version.location: default
    }
    known = usage is not None and usage.complete
    running = usage.regions_running(version.ref) if usage is not None and known else frozenset()
    counts: dict[str, int] = {}
    notes: list[str] = []
    for name, count in current.items():
        wanted = older.regions.get(name)
        if wanted is not None:
            counts[name] = min(count, wanted)
        elif name == version.location:
            counts[name] = count
        elif not known:
            counts[name] = count
            why = usage.problem if usage is not None and usage.problem else "in-use inventory not read"
            notes.append(f"region {name} kept: who runs the version there is unknown ({why})")
        elif name in running:
            counts[name] = count
            notes.append(f"region {name} kept: a machine there runs this version")
    shown = ", ".join(f"{r}: {c}" for r, c in sorted(older.regions.items()))
    reason = f"older version (past the newest {older.after_newest}): shrink to {{{shown}}}"
    return replication.model_copy(update={"regions": counts, "prune_regions": True}), notes, reason
