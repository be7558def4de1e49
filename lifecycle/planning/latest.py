"""`latest` per region: what a VM created from the image definition (no version) gets in each region, before
and after a plan, and the guard that refuses a change that would break it. Pure.

Azure resolves `latest` per region: the highest version (numeric order) that is replicated to the region
and not excluded from `latest` there. A version is excluded in a region when the version says so
(`publishingProfile.excludeFromLatest`) or when the region's own `targetRegions[].excludeFromLatest` is
true: a region can take a version out of `latest` there while it stays in elsewhere. A region's `false`
cannot put back a version excluded as a whole: ARM reports `excludeFromLatest: false` on every region that
does not set it (the spec's GalleryImageVersion_Get examples), so a `false` says nothing. A version being
created, or whose provisioning failed, is not eligible.

The guard: a planned change that would leave a region with no eligible version where it had one, or point a
region's `latest` at a revoked or quarantined version, is refused (dropped from the plan, with its state tag
write, and reported), except when the change is itself a revocation or a quarantine: then `latest` moves to
the newest eligible version, and the event says where (`latest`). A release gate holding a version the app
never admitted (pending, pending-approval, pending-validation) is not a change of `latest` either: the
version was published into it against the policy, and taking it out restores what was meant.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from lifecycle import tags as lt
from lifecycle.actions import Action, ActionKind, thaw
from lifecycle.model import (
    ObservedImage,
    ObservedVersion,
    ProvisioningState,
    TargetRegion,
    parse_version_id,
    version_key,
)
from lifecycle.notifications import Notification, NotificationType

# Kinds that can move `latest`.
_MOVES = (ActionKind.EXCLUDE_FROM_LATEST, ActionKind.PROMOTE, ActionKind.DELETE)
_EXEMPT = (NotificationType.VERSION_REVOKED, NotificationType.VERSION_QUARANTINED)
_HELD = (lt.STATE_PENDING, lt.STATE_PENDING_APPROVAL, lt.STATE_PENDING_VALIDATION)


def regions_of(version: ObservedVersion) -> tuple[TargetRegion, ...]:
    return version.target_regions or (TargetRegion(version.location, version.replica_count or 1),)


def excluded_in(version: ObservedVersion, region: TargetRegion) -> bool:
    """Out of `latest` in this region: excluded as a whole, or by the region's own flag."""
    return version.exclude_from_latest or region.exclude_from_latest is True


def eligible(version: ObservedVersion) -> bool:
    return version.provisioning_state not in (ProvisioningState.FAILED, ProvisioningState.CREATING)


def latest_version(image: ObservedImage) -> ObservedVersion | None:
    """What `latest` resolves to for the image as a whole (a gallery base, the newest kept by retention):
    the highest version not excluded from latest that succeeded."""
    eligible = [
        v
        for v in image.versions
        if v.provisioning_state is ProvisioningState.SUCCEEDED and not v.exclude_from_latest
    ]
    return max(eligible, key=lambda v: version_key(v.name), default=None)


def resolve(versions: Iterable[ObservedVersion]) -> dict[str, str | None]:
    """Region -> the version name `latest` resolves to there (None: no eligible version)."""
    best: dict[str, ObservedVersion | None] = {}
    for version in versions:
        for region in regions_of(version):
            best.setdefault(region.name, None)
            if not eligible(version) or excluded_in(version, region):
                continue
            current = best[region.name]
            if current is None or version_key(version.name) > version_key(current.name):
                best[region.name] = version
    return {name: (v.name if v else None) for name, v in sorted(best.items())}


def after(image: ObservedImage, actions: Sequence[Action]) -> list[ObservedVersion]:
    """The image's versions as they will be once `actions` are done (what moves `latest` only)."""
    out: list[ObservedVersion] = []
    by_target: dict[str, list[Action]] = {}
    for action in actions:
        by_target.setdefault(action.target.lower(), []).append(action)
    for version in image.versions:
        changed = version
        for action in by_target.get(version.ref.key(), ()):
            if action.kind is ActionKind.DELETE:
                changed = None  # type: ignore[assignment]
                break
            if action.kind in (ActionKind.EXCLUDE_FROM_LATEST, ActionKind.PROMOTE):
                changed = replace(changed, exclude_from_latest=bool(action.after.get("exclude_from_latest")))
                regions = action.after.get("region_excludes")
                if isinstance(regions, Mapping):
                    changed = replace(
                        changed,
                        target_regions=tuple(
                            replace(r, exclude_from_latest=regions[r.name]) if r.name in regions else r
                            for r in changed.target_regions
                        ),
                    )
        if changed is not None:
            out.append(changed)
    return out


@dataclass(frozen=True)
class Guarded:
    actions: tuple[Action, ...]
    latest: dict[str, str | None]  # region -> version name, after the kept actions
    refusals: tuple[str, ...] = ()


def guard(image: ObservedImage, actions: Sequence[Action], states: Mapping[str, str]) -> Guarded:
    """Refuse the changes that would break `latest` in a region; say in revocation and quarantine events
    where `latest` moves. `states`: version name -> its lifecycle state as planned."""
    before = resolve(image.versions)
    bad = {name for name, state in states.items() if state in (lt.STATE_REVOKED, lt.STATE_QUARANTINED)}
    kept = list(actions)
    refusals: list[str] = []
    planned = resolve(after(image, kept))
    if all(
        (name is not None or before.get(region) is None) and name not in bad
        for region, name in planned.items()
    ):
        # Nothing to refuse (the usual case): one resolution of the whole plan, not one per action.
        return Guarded(tuple(_with_latest(a, planned) for a in kept), planned)
    held = (*_HELD, lt.STATE_REVOKED, lt.STATE_QUARANTINED)

    def refusable(action: Action, name: str) -> bool:
        """A change that takes `name` out of `latest` and may be refused."""
        if action.kind not in (ActionKind.EXCLUDE_FROM_LATEST, ActionKind.DELETE) or _exempt(action):
            return False
        if _name(action) != name:
            return False
        return not (action.kind is ActionKind.EXCLUDE_FROM_LATEST and states.get(name) in held)

    eligible_before = {
        region: sorted(
            (
                v
                for v in image.versions
                if eligible(v) and any(r.name == region and not excluded_in(v, r) for r in regions_of(v))
            ),
            key=lambda v: version_key(v.name),
            reverse=True,
        )
        for region in before
    }
    settled: set[str] = set()
    while True:
        planned = resolve(after(image, kept))
        broken = [
            region
            for region, name in planned.items()
            if region not in settled
            and ((name is None and before.get(region) is not None) or (name is not None and name in bad))
        ]
        if not broken:
            break
        region = broken[0]
        now_latest = planned[region]
        floor = version_key(now_latest) if now_latest is not None else (-1,)
        # Keep the newest version that was eligible here and that this plan alone takes out.
        culprits: list[Action] = []
        for candidate in eligible_before.get(region, []):
            if version_key(candidate.name) <= floor:
                break
            culprits = [a for a in kept if refusable(a, candidate.name)]
            if culprits:
                break
        if not culprits:
            settled.add(region)  # nothing this plan may give up mends it (say, a revocation emptied it)
            continue
        target = culprits[0].target
        kept = [a for a in kept if a not in culprits and not _state_tag_of(a, target)]
        after_refusal = resolve(after(image, kept))
        what = ", ".join(
            f"{r}: {before.get(r) or 'none'} -> {planned[r] or 'none'}"
            for r in sorted(planned)
            if planned[r] != after_refusal.get(r)
        )
        for action in culprits:
            refusals.append(
                f"{action.kind.value} of {_name(action)} refused: it would leave latest without an eligible "
                f"version or on a revoked or quarantined one ({what}); {action.reason}"
            )
    latest = resolve(after(image, kept))
    announced = tuple(_with_latest(a, latest) for a in kept)
    return Guarded(announced, latest, tuple(refusals))


def _name(action: Action) -> str:
    return parse_version_id(action.target).name


def _exempt(action: Action) -> bool:
    return any(n.type in _EXEMPT for n in action.notifications)


def _state_tag_of(action: Action, target: str) -> bool:
    if action.kind is not ActionKind.TAG or action.target.lower() != target.lower():
        return False
    return lt.STATE in thaw(action.after).get("tags", {})


def _with_latest(action: Action, latest: Mapping[str, str | None]) -> Action:
    if not _exempt(action):
        return action
    notifications = tuple(
        Notification(n.type, n.subject, {**n.data, "latest": dict(latest)}, n.id) if n.type in _EXEMPT else n
        for n in action.notifications
    )
    return replace(action, notifications=notifications)
