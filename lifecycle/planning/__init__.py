"""The planner: a pure function of (policy, observed image, remembered state, now) -> actions.

When what ARM reports already equals what the policy wants, the plan is empty: re-delivered events and
the events our own writes cause are no-ops. Each concern lives in its own module (replication,
retention, rebake); this module composes them per version.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from lifecycle import tags as lt
from lifecycle.actions import Action, ActionKind
from lifecycle.model import ImageUsage, ObservedImage, ObservedVersion, ProvisioningState, iso
from lifecycle.notifications import Notification, NotificationType
from lifecycle.planning import consumers as consumers_planner
from lifecycle.planning import demand, gates, healing, latest, quarantine, retention, shrink
from lifecycle.planning import rebake as rebake_planner
from lifecycle.planning.deprecation import Deprecation
from lifecycle.planning.lineage import BaseObservation
from lifecycle.planning.replication import plan_replication
from lifecycle.planning.types import ImagePlan, RebakeReport, VersionReport
from lifecycle.policy import ImagePolicy, Replication
from lifecycle.state import ImageState, PendingBuild, RegionHeal

__all__ = ["ImagePlan", "RebakeReport", "VersionReport", "needs_replication_status", "plan_image"]

# Build metadata for a version that never shows up is dropped after this long.
PENDING_BUILD_TTL = timedelta(days=7)
# A new version whose first write waits for its build event (metadata.await_build_minutes).
STATE_AWAITING_BUILD = "awaiting-build"


def plan_image(
    policy: ImagePolicy,
    image: ObservedImage,
    now: datetime,
    *,
    state: ImageState | None = None,
    usage: ImageUsage | None = None,
    delete_budget: int = 0,
    deletes_blocked: str | None = None,
    run: rebake_planner.RunObservation | None = None,
    soft_delete: retention.SoftDelete | None = None,
    revoked_bases: frozenset[str] = frozenset(),
    base: BaseObservation | None = None,
    deprecation: Deprecation | None = None,
    eol_caps: Mapping[str, tuple[datetime, str]] | None = None,
    warn_days: int | None = None,
    consumers: Mapping[str, tuple[consumers_planner.Consumer, ...]] | None = None,
) -> ImagePlan:
    """`revoked_bases`: lower-cased ids of revoked versions that versions of this image may be built on;
    `base`: the base image of the newest version and whether it moved on (for `rebake.on_base_update`);
    `deprecation`: that base's deprecation status (`rebake.on_base_deprecation`); `eol_caps`: per version,
    its base's deprecation date (`retention.cap_at_base_deprecation`); `warn_days` and `consumers` (by
    version name): VersionExpiring for versions machines run."""
    state = state or ImageState()
    lifetimes = {
        name: build.lifetime_days for name, build in state.pending_builds.items() if build.lifetime_days
    }
    version_gates = {v.name: gates.assess(policy, v, state, revoked_bases) for v in image.versions}
    revoked = frozenset(name for name, gate in version_gates.items() if gate.revoked)
    fates = retention.assess(
        policy.retention,
        image,
        now,
        lifetimes=lifetimes,
        usage=usage,
        budget=delete_budget,
        deletes_blocked=deletes_blocked,
        soft_delete=soft_delete,
        revoked=revoked,
        caps=eol_caps,
    )
    actions: list[Action] = []
    notifications: list[Notification] = []
    reports: list[VersionReport] = []
    warnings: list[str] = []
    replicating = set(state.replicating)
    pending = dict(state.pending_builds)
    heal_records: dict[str, Mapping[str, RegionHeal]] = dict(state.healing)
    recheck: datetime | None = None

    older = shrink.older_names(image, policy.replication.older)
    newest = demand.newest_eligible(image)
    for version in image.versions:
        fate = fates[version.name]
        gate = version_gates[version.name]
        expires, deleted = retention.describe(fate)
        notes: list[str] = []
        if gate.parent_revoked:
            notes.append(f"built on revoked {gate.parent_revoked}")
        if fate.delete_now:
            actions.append(_delete(version, fate, soft_delete, now))
            replicating.discard(version.name)
            pending.pop(version.name, None)
            heal_records.pop(version.name, None)
            reports.append(VersionReport(version.name, "deleting", (), expires, deleted, fate.blocked))
            continue
        if fate.blocked:
            notes.append(f"not deleted: {fate.blocked}")
        if version.provisioning_state.busy:
            if version.provisioning_state in (ProvisioningState.CREATING, ProvisioningState.UPDATING):
                replicating.add(version.name)
            notes.append(_progress(version))
            reports.append(
                VersionReport(
                    version.name,
                    version.provisioning_state.value.lower(),
                    tuple(notes),
                    expires,
                    deleted,
                    fate.kept,
                )
            )
            continue
        heal = None
        failed = version.provisioning_state is ProvisioningState.FAILED
        awaiting = None if failed else _awaiting_build(policy, version, fate, gate, pending, now)
        if awaiting is not None:
            # Nothing is written yet: the build's tags (and lifetime) go out with the version's first write.
            notes.append(f"waiting for its build event until {iso(awaiting)} (metadata.await_build_minutes)")
            reports.append(
                VersionReport(version.name, STATE_AWAITING_BUILD, tuple(notes), expires, deleted, fate.kept)
            )
            recheck = awaiting if recheck is None else min(recheck, awaiting)
            continue
        if fate.expired:
            # An expired version is on its way out: it is not healed, only retired.
            if heal_records.pop(version.name, None) is not None or failed:
                notes.append("replication failed; expired, so not healed")
        elif state.healing.get(version.name) or version.failed_regions or failed:
            heal = healing.assess(policy.replication, version, state.healing.get(version.name, {}), now)
            notes.extend(heal.notes)
            notifications.extend(heal.notifications)

        if failed:
            version_actions = _plan_failed(version, fate, heal)
            lifecycle_state = "failed"
        else:
            version_actions, version_notes, lifecycle_state = _plan_version(
                policy,
                version,
                fate,
                pending,
                heal,
                gate,
                quarantine.assess(version),
                sizing=_sizing(policy, version, usage, older, newest, heal),
            )
            notes.extend(version_notes)
            if lifecycle_state == lt.STATE_PENDING_APPROVAL and not version.exclude_from_latest:
                warnings.append(
                    f"{version.name} was published into latest while approval is required: taken out at "
                    "once (Azure may already have served it)"
                )
        actions.extend(version_actions)
        if heal is not None:
            # Tags go through ARM's Tags API, which does not update the version: only a version update
            # retries its failed regions.
            if any(a.kind is not ActionKind.TAG for a in version_actions):
                heal = healing.written(heal, now)
            if heal.records:
                heal_records[version.name] = heal.records
            else:
                heal_records.pop(version.name, None)
        if any(a.kind is ActionKind.REPLICATE for a in version_actions):
            replicating.add(version.name)
        elif failed:
            if heal is None or heal.gave_up:
                replicating.discard(version.name)
        elif version.name in replicating and version.replicated is True:
            # Every region reports Completed: provisioningState Succeeded alone is not enough, a region
            # can still be Replicating after it (Azure/AgentBaker#8373).
            replicating.discard(version.name)
            notifications.append(
                Notification(
                    NotificationType.VERSION_REPLICATED,
                    version.ref.id,
                    {"regions": sorted(r.name for r in version.target_regions) or [version.location]},
                )
            )
        if not failed:
            build = pending.get(version.name)
            # The gates own the approver tag once someone approved: the build's value is not waited for.
            owned = {lt.APPROVER} if gate.approver else set()
            if build is not None and all(
                version.tags.get(k) == v[: lt.MAX_VALUE]
                for k, v in _event_tags(build).items()
                if k not in owned
            ):
                pending.pop(version.name)
        reports.append(
            VersionReport(
                version.name,
                lifecycle_state,
                tuple(notes),
                expires if not failed or fate.end_of_life else None,
                deleted,
                fate.kept,
            )
        )

    known = {v.name for v in image.versions}
    for name, build in list(pending.items()):
        if name not in known and build.received is not None and now - build.received > PENDING_BUILD_TTL:
            warnings.append(f"build metadata for {name} dropped: the version never appeared")
            pending.pop(name)
    replicating &= known

    decision = rebake_planner.plan_rebake(
        policy.rebake,
        image,
        state.rebake,
        now,
        policy_digest=policy.digest(),
        run=run,
        base=base,
        deprecation=deprecation,
    )
    actions.extend(decision.actions)
    notifications.extend(decision.notifications)
    heal_records = {name: records for name, records in heal_records.items() if name in known}
    warnings_due, warned = consumers_planner.expiring(image, now, warn_days, consumers or {}, state.warned)
    notifications.extend(warnings_due)
    by_name = {v.name: v for v in image.versions}
    new_state = replace(
        state,
        replicating=frozenset(replicating),
        pending_builds=pending,
        rebake=decision.state,
        healing=heal_records,
        approvals=gates.settled(state.approvals, by_name, lt.APPROVED_BY),
        revocations=gates.settled(state.revocations, by_name, lt.STATE),
        recheck_at=recheck,
        warned=warned,
    )
    reports = [
        replace(r, parent=version_gates[r.version].parent) if r.version in version_gates else r
        for r in reports
    ]
    guarded = latest.guard(image, actions, {r.version: r.state for r in reports})
    warnings.extend(guarded.refusals)
    return ImagePlan(
        image=image.ref,
        actions=guarded.actions,
        latest=guarded.latest,
        refusals=guarded.refusals,
        notifications=tuple(notifications),
        versions=tuple(reports),
        warnings=tuple(warnings),
        state=new_state,
        rebake=decision.report,
    )


def needs_replication_status(version: ObservedVersion, state: ImageState) -> bool:
    """Whether the planner needs this version's per-region replication state (one GET; the version list
    does not carry it): versions watched until every region is Completed, versions being healed, and
    versions not yet handled (new ones, whose provisioningState may read Succeeded while a region is
    still Replicating) or held out of `latest`. Busy and failed versions are read anyway."""
    return (
        version.name in state.replicating
        or version.name in state.healing
        or version.tags.get(lt.STATE) in (None, lt.STATE_PENDING, lt.STATE_PENDING_VALIDATION)
        # A quarantine for a failed validation is lifted only on a validations profile read (GET).
        or version.tags.get(lt.STATE) == lt.STATE_QUARANTINED
        # An approved version held for approval is promoted only once replicated (promote_when_replicated).
        or (
            version.tags.get(lt.STATE) == lt.STATE_PENDING_APPROVAL
            and (lt.get(version.tags, lt.APPROVED_BY) is not None or version.name in state.approvals)
        )
    )


def _awaiting_build(
    policy: ImagePolicy,
    version: ObservedVersion,
    fate: retention.Fate,
    gate: gates.Gate,
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
    if quarantine.flagged(version) is not None:
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


def _progress(version: ObservedVersion) -> str:
    if not version.region_status:
        return f"{version.provisioning_state.value}: waiting for the next sweep"
    parts = [
        f"{s.region} {s.state.value}"
        + (f" {s.progress}%" if s.progress is not None and s.progress < 100 else "")
        for s in version.region_status
    ]
    return "replication: " + ", ".join(parts)


@dataclass(frozen=True)
class Sizing:
    """The replication one version should have: the policy's, with `auto` counts worked out from demand,
    or the older versions' shrink; the notes and the reason part it adds."""

    replication: Replication
    notes: tuple[str, ...] = ()
    reason: str | None = None
    shrink: bool = False


def _sizing(
    policy: ImagePolicy,
    version: ObservedVersion,
    usage: ImageUsage | None,
    older: frozenset[str],
    newest: str | None,
    heal: healing.Healing | None,
) -> Sizing:
    replication = policy.replication
    if version.name in older and replication.older is not None and heal is None:
        shrunk, shrink_notes, why = shrink.shrunk(replication, replication.older, version, usage)
        return Sizing(shrunk, tuple(shrink_notes), why, shrink=True)
    if "auto" not in replication.regions.values():
        return Sizing(replication)
    default = version.replica_count or 1
    current = {r.name: (r.replica_count or default) for r in version.target_regions}
    counts, notes, reason = demand.resolve_auto(
        replication, version, usage, newest=version.name == newest, current=current
    )
    return Sizing(replication.model_copy(update={"regions": counts}), tuple(notes), reason)


def _plan_version(
    policy: ImagePolicy,
    version: ObservedVersion,
    fate: retention.Fate,
    pending: Mapping[str, PendingBuild],
    heal: healing.Healing | None = None,
    gate: gates.Gate | None = None,
    verdict: quarantine.Verdict | None = None,
    sizing: Sizing | None = None,
) -> tuple[list[Action], list[str], str]:
    gate = gate or gates.Gate()
    verdict = verdict or quarantine.Verdict()
    sizing = sizing or Sizing(policy.replication)
    # An expired (or revoked) version is on its way out: replicating it further would only cost storage;
    # shrinking it (replication.older) only saves.
    if fate.expired and not sizing.shrink:
        actions: list[Action] = []
        notes: list[str] = []
    else:
        actions, notes = plan_replication(
            sizing.replication,
            version,
            remove=heal.remove if heal else frozenset(),
            readd={k: healing.entry_region(v) for k, v in heal.readd.items()} if heal else None,
            heal_reason=heal.reason if heal and heal.write else None,
            reason=sizing.reason,
        )
    notes = [*sizing.notes, *notes]
    current_state = version.tags.get(lt.STATE)
    if current_state is None and version.exclude_from_latest and policy.replication.promote_when_replicated:
        # A pipeline that publishes with excludeFromLatest (the strict way to hold a new version back)
        # hands the promotion to us: treat it as held.
        current_state = lt.STATE_PENDING
    if current_state is None and version.exclude_from_latest and policy.approval.required:
        current_state = lt.STATE_PENDING_APPROVAL
    if current_state is None and version.exclude_from_latest and policy.approval.require_platform_validation:
        current_state = lt.STATE_PENDING_VALIDATION
    # "Replicated" means every region Completed. When that was not read this run (progress reads are
    # bounded), a version already held stays held; any other is taken as it is.
    replicating_now = (
        bool(actions)
        or version.replicated is False
        or (
            version.replicated is None
            and current_state in (lt.STATE_PENDING, lt.STATE_PENDING_APPROVAL, lt.STATE_PENDING_VALIDATION)
        )
    )
    hold = policy.replication.promote_when_replicated and replicating_now and not fate.expired

    if gate.revoked:
        lifecycle_state = lt.STATE_REVOKED
    elif verdict.quarantine:
        lifecycle_state = lt.STATE_QUARANTINED
    elif fate.expired:
        lifecycle_state = lt.STATE_EXPIRED
    elif gates.held_for_approval(policy, version, gate):
        lifecycle_state = lt.STATE_PENDING_APPROVAL
    elif held_for_validation(policy, version, verdict):
        lifecycle_state = lt.STATE_PENDING_VALIDATION
    elif hold:
        lifecycle_state = lt.STATE_PENDING
    else:
        lifecycle_state = lt.STATE_ACTIVE

    if fate.set_end_of_life is not None:
        actions.append(_end_of_life(version, fate.set_end_of_life, fate.eol_reason))

    if lifecycle_state == lt.STATE_REVOKED:
        if not version.exclude_from_latest or gate.newly_revoked:
            data: dict[str, object] = {"reason": gate.revoked}
            if gate.parent_revoked and policy.ancestry.inherit_revocation:
                data["parentRevoked"] = gate.parent_revoked
            actions.append(
                _exclude(
                    version,
                    f"revoked: {gate.revoked}",
                    notifications=(
                        (Notification(NotificationType.VERSION_REVOKED, version.ref.id, data),)
                        if gate.newly_revoked
                        else ()
                    ),
                )
            )
    elif lifecycle_state == lt.STATE_QUARANTINED:
        notes.append(f"quarantined: {verdict.quarantine}")
        if not version.exclude_from_latest or verdict.newly_quarantined:
            actions.append(
                _exclude(
                    version,
                    f"quarantined: {verdict.quarantine}",
                    notifications=(
                        (
                            Notification(
                                NotificationType.VERSION_QUARANTINED,
                                version.ref.id,
                                {"reason": verdict.quarantine},
                            ),
                        )
                        if verdict.newly_quarantined
                        else ()
                    ),
                )
            )
    elif lifecycle_state == lt.STATE_EXPIRED:
        if not version.exclude_from_latest or current_state != lt.STATE_EXPIRED:
            actions.append(
                _exclude(
                    version,
                    f"expired: end-of-life {_when(fate.end_of_life)} has passed",
                    notifications=(
                        ()
                        if current_state == lt.STATE_EXPIRED
                        else (
                            Notification(
                                NotificationType.VERSION_EXPIRED,
                                version.ref.id,
                                {"endOfLifeDate": _when(fate.end_of_life)},
                            ),
                        )
                    ),
                )
            )
    elif lifecycle_state == lt.STATE_PENDING_APPROVAL:
        notes.append("waiting for approval (tag lifecycle.approved-by, `approve`, or VersionApproved)")
        if not version.exclude_from_latest:
            actions.append(
                _exclude(
                    version,
                    "approval required: published into latest, taken out until approved",
                )
            )
    elif lifecycle_state == lt.STATE_PENDING_VALIDATION:
        notes.append(f"waiting for the platform's validation ({verdict.validation_pending})")
        if not version.exclude_from_latest:
            actions.append(
                _exclude(version, "platform validation required: held out of latest until it succeeded")
            )
    elif lifecycle_state == lt.STATE_PENDING:
        if not version.exclude_from_latest:
            actions.append(
                _exclude(
                    version,
                    "held out of latest until every region is replicated",
                )
            )
    elif current_state in _RETURNING and version.exclude_from_latest:
        # We excluded it (held for replication or approval, or expired and since kept): put it back.
        reasons = []
        if current_state == lt.STATE_PENDING:
            reasons.append("replicated to every region")
        if current_state == lt.STATE_EXPIRED:
            reasons.append("no longer expired")
        if current_state == lt.STATE_PENDING_VALIDATION:
            reasons.append("every platform validation succeeded")
        if current_state == lt.STATE_QUARANTINED:
            reasons.append(f"quarantine lifted: {verdict.cleared or 'Azure no longer flags it'}")
        after: dict[str, object] = {"exclude_from_latest": False}
        data = {}
        if gate.approver and (policy.approval.required or current_state == lt.STATE_PENDING_APPROVAL):
            reasons.append(f"approved by {gate.approver}")
            after["approver"] = gate.approver
            data["approver"] = gate.approver
        elif current_state == lt.STATE_PENDING_APPROVAL:
            reasons.append("approval no longer required")
        cleared, kept = region_excludes(version)
        if cleared:
            # Regions the app excluded come back with the version (an update sends every region).
            after["region_excludes"] = dict.fromkeys(cleared, False)
            after["regions"] = [
                healing.region_entry(replace(r, exclude_from_latest=False) if r.name in cleared else r)
                for r in version.target_regions
            ]
            reasons.append(f"excludeFromLatest cleared in {', '.join(cleared)}")
        if kept:
            data["excludedIn"] = list(kept)
        actions.append(
            Action(
                kind=ActionKind.PROMOTE,
                target=version.ref.id,
                reason="; ".join(reasons) or "promoted",
                before={"exclude_from_latest": True},
                after=after,
                notifications=(Notification(NotificationType.VERSION_PROMOTED, version.ref.id, data),),
            )
        )
    kept_out = region_excludes(version)[1]
    if kept_out and lifecycle_state == lt.STATE_ACTIVE:
        notes.append(
            f"kept out of latest in {', '.join(kept_out)} by the region's own excludeFromLatest (not set by "
            "the app)"
        )
    if lifecycle_state == lt.STATE_ACTIVE and gate.approver is None and policy.approval.required:
        notes.append("in latest before approval was required")

    desired_tags = dict(policy.metadata.tags)
    build = pending.get(version.name)
    if build is not None:
        desired_tags.update(_event_tags(build))
    desired_tags[lt.STATE] = lifecycle_state
    if gate.approval_to_tag:
        desired_tags[lt.APPROVED_BY] = gate.approval_to_tag
    if gate.approver:
        desired_tags[lt.APPROVER] = gate.approver
    if gate.revoked:
        desired_tags[lt.REVOKED_REASON] = gate.revoked
    if gate.parent_revoked:
        desired_tags[lt.PARENT_REVOKED] = gate.parent_revoked
    if lt.get(version.tags, lt.EXCLUDED_REGIONS) and any(
        a.kind is ActionKind.PROMOTE and "region_excludes" in a.after for a in actions
    ):
        desired_tags[lt.EXCLUDED_REGIONS] = ""  # cleared with the regions it named
    if verdict.quarantine:
        desired_tags[lt.QUARANTINE_REASON] = verdict.quarantine
    elif verdict.cleared and lt.get(version.tags, lt.QUARANTINE_REASON):
        # Tag writes merge our keys, so the reason is overwritten rather than removed.
        desired_tags[lt.QUARANTINE_REASON] = "cleared"
    changes, tag_warnings = lt.tag_changes(version.tags, desired_tags)
    notes.extend(tag_warnings)
    if changes:
        # The approval is announced once: when the app first records the approver on the version (a
        # repeated approval changes no tag, so it announces nothing, and cannot loop back as an event).
        approved = (
            gate.approver is not None and changes.get(lt.APPROVER) == gate.approver and not gate.revoked
        )
        actions.append(
            _tag(
                version,
                changes,
                "lifecycle and policy tags",
                notifications=(
                    (
                        Notification(
                            NotificationType.VERSION_APPROVED, version.ref.id, {"approver": gate.approver}
                        ),
                    )
                    if approved
                    else ()
                ),
            )
        )
    return actions, notes, lifecycle_state


# States the app excluded a version for, from which it is promoted back once they no longer hold.
_RETURNING = (
    lt.STATE_PENDING,
    lt.STATE_EXPIRED,
    lt.STATE_PENDING_APPROVAL,
    lt.STATE_PENDING_VALIDATION,
    lt.STATE_QUARANTINED,
)


def held_for_validation(policy: ImagePolicy, version: ObservedVersion, verdict: quarantine.Verdict) -> bool:
    """`approval.require_platform_validation`: a version the app has not admitted to `latest` yet waits
    until every platform validation Succeeded (versions already active stay where they are)."""
    if not policy.approval.require_platform_validation or verdict.validation_pending is None:
        return False
    current = (lt.get(version.tags, lt.STATE) or "").lower() or None
    return current in (*gates.NOT_ADMITTED, lt.STATE_PENDING_VALIDATION, lt.STATE_QUARANTINED)


def region_excludes(version: ObservedVersion) -> tuple[list[str], list[str]]:
    """The regions whose own excludeFromLatest is true: those the app set (named by
    `lifecycle.excluded-regions`), cleared on promotion, and those set by someone else, kept and shown."""
    named = {
        r.strip().lower() for r in (lt.get(version.tags, lt.EXCLUDED_REGIONS) or "").split(",") if r.strip()
    }
    excluded = [r.name for r in version.target_regions if r.exclude_from_latest is True]
    return [r for r in excluded if r in named], [r for r in excluded if r not in named]


def _event_tags(build: PendingBuild) -> dict[str, str]:
    """The build's tags an event may set: the documented build tags only, never `lifecycle.state`, a
    hold or any other tag the app or an operator owns (whatever the remembered state says)."""
    return {k: v for k, v in build.tags.items() if k.lower() in lt.EVENT_TAGS}


def _plan_failed(
    version: ObservedVersion, fate: retention.Fate, heal: healing.Healing | None
) -> list[Action]:
    """Writes to a failed version: the healing update when one is due, and retention (end-of-life, out
    of `latest` once expired) like any other version, never held back by healing."""
    actions: list[Action] = []
    if heal is not None and heal.write:
        present = {r.name for r in version.target_regions}
        desired = [r for r in version.target_regions if r.name not in heal.remove]
        desired += [healing.entry_region(e) for n, e in sorted(heal.readd.items()) if n not in present]
        counts = {r.name: r.replica_count for r in version.target_regions}
        actions.append(
            Action(
                kind=ActionKind.REPLICATE,
                target=version.ref.id,
                reason=heal.reason,
                before={"target_regions": counts},
                after={
                    "target_regions": {r.name: r.replica_count for r in desired},
                    "regions": [healing.region_entry(r) for r in desired],
                    "heal": heal.reason,
                },
            )
        )
    # No other write waits on healing (its back-off, or a heal Azure keeps refusing): the end-of-life goes
    # out in its own right. (Any update of the version also retries its failed regions, as Azure does.)
    if fate.set_end_of_life is not None:
        actions.append(_end_of_life(version, fate.set_end_of_life, fate.eol_reason))
    if fate.expired and not version.exclude_from_latest:
        actions.append(
            _exclude(
                version,
                f"expired: end-of-life {_when(fate.end_of_life)} has passed",
                notifications=(
                    Notification(
                        NotificationType.VERSION_EXPIRED,
                        version.ref.id,
                        {"endOfLifeDate": _when(fate.end_of_life)},
                    ),
                ),
            )
        )
    if fate.expired:
        # Failed or not, an expired version says so on its state tag (found by the chaos suite: a version
        # whose replication failed kept `lifecycle.state=active` after it expired). It goes out in the same
        # update as the exclusion above.
        changes, _ = lt.tag_changes(version.tags, {lt.STATE: lt.STATE_EXPIRED})
        if changes:
            actions.append(_tag(version, changes, "lifecycle tags: expired"))
    return actions


def _delete(
    version: ObservedVersion, fate: retention.Fate, soft_delete: retention.SoftDelete | None, now: datetime
) -> Action:
    if version.provisioning_state is ProvisioningState.FAILED:
        reason = "provisioning failed" + (
            f" (published {iso(version.published)})" if version.published else ""
        )
    else:
        reason = f"expired {_when(fate.end_of_life)}, grace period over"
    data: dict[str, object] = {"reason": reason}
    after: dict[str, object] = {"deleted": True}
    restorable = soft_delete.note(now) if soft_delete else None
    if soft_delete and restorable:
        reason = f"{reason}; {restorable}"
        after["soft_deleted"] = True
        data.update(reason=reason, softDeleted=True)
        if soft_delete.restorable_days is not None:
            until = iso(now + timedelta(days=soft_delete.restorable_days))
            after["restorable_until"] = until
            data["restorableUntil"] = until
    return Action(
        kind=ActionKind.DELETE,
        target=version.ref.id,
        reason=reason,
        before={"provisioning_state": version.provisioning_state.value},
        after=after,
        notifications=(Notification(NotificationType.VERSION_DELETED, version.ref.id, data),),
    )


def _when(value: datetime | None) -> str:
    return iso(value) if value else "unknown"


def _tag(
    version: ObservedVersion,
    changes: Mapping[str, str],
    reason: str,
    notifications: tuple[Notification, ...] = (),
) -> Action:
    """Set these tags on the version (what it carries now is the action's `before`)."""
    return Action(
        kind=ActionKind.TAG,
        target=version.ref.id,
        reason=reason,
        before={"tags": {k: version.tags.get(k) for k in changes}},
        after={"tags": dict(changes)},
        notifications=notifications,
    )


def _exclude(version: ObservedVersion, reason: str, notifications: tuple[Notification, ...] = ()) -> Action:
    """Take a version out of `latest` (what the version says now is the action's `before`)."""
    return Action(
        kind=ActionKind.EXCLUDE_FROM_LATEST,
        target=version.ref.id,
        reason=reason,
        before={"exclude_from_latest": version.exclude_from_latest},
        after={"exclude_from_latest": True},
        notifications=notifications,
    )


def _end_of_life(version: ObservedVersion, when: datetime, why: str | None = None) -> Action:
    """Set the version's end-of-life explicitly (Azure's 2026-03-03 default would otherwise apply)."""
    return Action(
        kind=ActionKind.END_OF_LIFE,
        target=version.ref.id,
        reason=f"end-of-life {iso(when)}: {why}"
        if why
        else f"end-of-life = published + lifetime ({iso(when)})",
        before={"end_of_life": iso(version.end_of_life) if version.end_of_life else None},
        after={"end_of_life": iso(when)},
    )
