"""One image's plan: each version planned in turn (retention, gates, healing, awaiting its build,
then the version's own plan), the rebake, the expiry warnings and the `latest` guard composed into one
`ImagePlan` with the state to remember. When what ARM reports already equals what the policy wants, the
plan is empty: re-delivered events and the events our own writes cause are no-ops."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime

from lifecycle import tags as lt
from lifecycle.actions import Action, ActionKind
from lifecycle.model import ImageUsage, ObservedImage, ObservedVersion, ProvisioningState, iso
from lifecycle.notifications import Notification, NotificationType
from lifecycle.planning.awaiting_build import STATE_AWAITING_BUILD, awaiting_build, drop_unclaimed
from lifecycle.planning.consumers import Consumer
from lifecycle.planning.consumers import expiring as expiry_warnings
from lifecycle.planning.demand import newest_eligible
from lifecycle.planning.deprecation import Deprecation
from lifecycle.planning.gates import assess as assess_gate
from lifecycle.planning.gates import settled
from lifecycle.planning.healing import assess as assess_healing
from lifecycle.planning.healing import written as heal_written
from lifecycle.planning.latest import guard as guard_latest
from lifecycle.planning.lineage import BaseObservation
from lifecycle.planning.quarantine import assess as assess_quarantine
from lifecycle.planning.rebake import RunObservation, plan_rebake
from lifecycle.planning.retention import SoftDelete, describe
from lifecycle.planning.retention import assess as assess_retention
from lifecycle.planning.shrink import older_names
from lifecycle.planning.sizing import sizing_of
from lifecycle.planning.tagging import build_written
from lifecycle.planning.types import ImagePlan, VersionReport
from lifecycle.planning.version import plan_failed, plan_version, progress
from lifecycle.planning.writes import delete_version
from lifecycle.policy import ImagePolicy
from lifecycle.state import ImageState, RegionHeal


def plan_image(
    policy: ImagePolicy,
    image: ObservedImage,
    now: datetime,
    *,
    state: ImageState | None = None,
    usage: ImageUsage | None = None,
    delete_budget: int = 0,
    deletes_blocked: str | None = None,
    run: RunObservation | None = None,
    soft_delete: SoftDelete | None = None,
    revoked_bases: frozenset[str] = frozenset(),
    base: BaseObservation | None = None,
    deprecation: Deprecation | None = None,
    eol_caps: Mapping[str, tuple[datetime, str]] | None = None,
    warn_days: int | None = None,
    consumers: Mapping[str, tuple[Consumer, ...]] | None = None,
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
    version_gates = {v.name: assess_gate(policy, v, state, revoked_bases) for v in image.versions}
    revoked = frozenset(name for name, gate in version_gates.items() if gate.revoked)
    fates = assess_retention(
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

    older = older_names(image, policy.replication.older)
    newest = newest_eligible(image)
    for version in image.versions:
        fate = fates[version.name]
        gate = version_gates[version.name]
        expires, deleted = describe(fate)
        notes: list[str] = []
        if gate.parent_revoked:
            notes.append(f"built on revoked {gate.parent_revoked}")
        if fate.delete_now:
            actions.append(delete_version(version, fate, soft_delete, now))
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
            notes.append(progress(version))
            reports.append(
                VersionReport(
                    version.name,
                    version.provisioning_state.value.lower(),
                    tuple(notes),
                    expires,
                    deleted,
                    fate.kept,
                    delete_blocked=fate.blocked or None,
                )
            )
            continue
        heal = None
        failed = version.provisioning_state is ProvisioningState.FAILED
        awaiting = None if failed else awaiting_build(policy, version, fate, gate, pending, now)
        if awaiting is not None:
            # Nothing is written yet: the build's tags (and lifetime) go out with the version's first write.
            notes.append(f"waiting for its build event until {iso(awaiting)} (metadata.await_build_minutes)")
            reports.append(
                VersionReport(
                    version.name,
                    STATE_AWAITING_BUILD,
                    tuple(notes),
                    expires,
                    deleted,
                    fate.kept,
                    delete_blocked=fate.blocked or None,
                )
            )
            recheck = awaiting if recheck is None else min(recheck, awaiting)
            continue
        if fate.expired:
            # An expired version is on its way out: it is not healed, only retired.
            if heal_records.pop(version.name, None) is not None or failed:
                notes.append("replication failed; expired, so not healed")
        elif state.healing.get(version.name) or version.failed_regions or failed:
            heal = assess_healing(policy.replication, version, state.healing.get(version.name, {}), now)
            notes.extend(heal.notes)
            notifications.extend(heal.notifications)

        if failed:
            version_actions = plan_failed(version, fate, heal)
            lifecycle_state = "failed"
        else:
            version_actions, version_notes, lifecycle_state = plan_version(
                policy,
                version,
                fate,
                pending,
                heal,
                gate,
                assess_quarantine(version),
                sizing=sizing_of(policy, version, usage, older, newest, heal),
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
                heal = heal_written(heal, now)
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
            if build is not None and build_written(version, build, gate):
                pending.pop(version.name)
        reports.append(
            VersionReport(
                version.name,
                lifecycle_state,
                tuple(notes),
                expires if not failed or fate.end_of_life else None,
                deleted,
                fate.kept,
                delete_blocked=fate.blocked or None,
            )
        )

    known = {v.name for v in image.versions}
    warnings.extend(drop_unclaimed(pending, known, now))
    replicating &= known

    decision = plan_rebake(
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
    warnings_due, warned = expiry_warnings(image, now, warn_days, consumers or {}, state.warned)
    notifications.extend(warnings_due)
    by_name = {v.name: v for v in image.versions}
    new_state = replace(
        state,
        replicating=frozenset(replicating),
        pending_builds=pending,
        rebake=decision.state,
        healing=heal_records,
        approvals=settled(state.approvals, by_name, lt.APPROVED_BY),
        revocations=settled(state.revocations, by_name, lt.STATE),
        recheck_at=recheck,
        warned=warned,
    )
    reports = [
        replace(r, parent=version_gates[r.version].parent) if r.version in version_gates else r
        for r in reports
    ]
    guarded = guard_latest(image, actions, {r.version: r.state for r in reports})
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
