"""How many replicas, and where, one version should have: the policy's replication, with `auto`
counts worked out from demand, or the older versions' shrink (`replication.older`)."""

from __future__ import annotations

from dataclasses import dataclass

from lifecycle.model import ImageUsage, ObservedVersion
from lifecycle.planning.demand import resolve_auto
from lifecycle.planning.healing import Healing
from lifecycle.planning.shrink import shrunk
from lifecycle.policy import ImagePolicy, Replication


@dataclass(frozen=True)
class Sizing:
    """The replication one version should have: the policy's, with `auto` counts worked out from demand,
    or the older versions' shrink; the notes and the reason part it adds."""

    replication: Replication
    notes: tuple[str, ...] = ()
    reason: str | None = None
    shrink: bool = False


def sizing_of(
    policy: ImagePolicy,
    version: ObservedVersion,
    usage: ImageUsage | None,
    older: frozenset[str],
    newest: str | None,
    heal: Healing | None,
) -> Sizing:
    """`older`: the names of the versions `replication.older` shrinks; `newest`: the newest eligible
    version's name (demand goes to it); a version being healed is not shrunk."""
    replication = policy.replication
    if version.name in older and replication.older is not None and heal is None:
        smaller, shrink_notes, why = shrunk(replication, replication.older, version, usage)
        return Sizing(smaller, tuple(shrink_notes), why, shrink=True)
    if "auto" not in replication.regions.values():
        return Sizing(replication)
    default = version.replica_count or 1
    current = {r.name: (r.replica_count or default) for r in version.target_regions}
    counts, notes, reason = resolve_auto(
        replication, version, usage, newest=version.name == newest, current=current
    )
    return Sizing(replication.model_copy(update={"regions": counts}), tuple(notes), reason)
