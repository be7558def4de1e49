"""Build metadata and versions waiting for each other: a new version's first write waits for its
BuildCompleted (`metadata.await_build_minutes`), and a build's metadata waits for its version to appear
(dropped after `PENDING_BUILD_TTL`)."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime, timedelta

from lifecycle import tags as lt
from lifecycle.model import ObservedVersion
from lifecycle.planning.gates import Gate
from lifecycle.planning.quarantine import flagged
from lifecycle.planning.retention import Fate
from lifecycle.policy import ImagePolicy
from lifecycle.state import PendingBuild

# Build metadata for a version that never shows up is dropped after this long.
PENDING_BUILD_TTL = timedelta(days=7)
# A new version whose first write waits for its build event (metadata.await_build_minutes).
STATE_AWAITING_BUILD = "awaiting-build"


def awaiting_build(
    policy: ImagePolicy,
    version: ObservedVersion,
    fate: Fate,
    gate: Gate,
    pending: Mapping[str, PendingBuild],
    now: datetime,
) -> datetime | None:
    """Until when a new version's first write waits for its BuildCompleted (None: write now).

    Only a version the app never wrote (no `lifecycle.state`), with no build metadata yet (none kept from
    an event, no build tag set at publish), within `metadata.await_build_minutes` of its publish date.
    A write that protects a release gate never waits: a version published into `latest` while approval
    is required, or while new versions are held until replicated, is taken out at once. Nor does an
    expired or revoked version wait (it is on its way out), nor one an operator approved already."""
    minutes = policy.metadata.await_build_minutes
    if not minutes or version.published is None or version.tags.get(lt.STATE) is not None:
        return None
    if fate.expired or gate.revoked or gate.approver or version.name in pending:
        return None
    if any(name.lower() in lt.EVENT_TAGS for name in version.tags):
        return None
    if flagged(version) is not None:
        return None
    gated = (
        policy.approval.required
        or policy.approval.require_platform_validation
        or policy.replication.promote_when_replicated
    )
    if gated and not version.exclude_from_latest:
        return None
    until = version.published + timedelta(minutes=minutes)
    if until.microsecond:  # whole seconds, as the state remembers it (a changed value reschedules)
        until = until.replace(microsecond=0) + timedelta(seconds=1)
    return until if now < until else None


def drop_unclaimed(pending: dict[str, PendingBuild], known: Collection[str], now: datetime) -> list[str]:
    """Forget (in place) the build metadata of versions that never appeared within `PENDING_BUILD_TTL`;
    one warning for each."""
    warnings: list[str] = []
    for name, build in list(pending.items()):
        if name not in known and build.received is not None and now - build.received > PENDING_BUILD_TTL:
            warnings.append(f"build metadata for {name} dropped: the version never appeared")
            pending.pop(name)
    return warnings
