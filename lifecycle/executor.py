"""Carry out a plan: one outcome per action, dry-run honoured, and going on after a failure.

Updates of one version are folded into a single update, a typed `VersionChange` the gallery gateway turns
into ARM's PATCH (a version being updated cannot take a second write). Long-running operations are started,
not awaited. Writes run in priority order (what a new build needs, then bulk work, then deletions); each
asks the write budget and the run's deadline first, and a write either may not start (or Azure throttles
it) is deferred: not done, not failed, planned again by the next run.
"""

from __future__ import annotations

import functools
import logging
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from lifecycle import tags as lt
from lifecycle.actions import (
    DEFERRED,
    FAILED,
    PLANNED,
    SUCCEEDED,
    VERSION_UPDATES,
    Action,
    ActionKind,
    announced_by_executor,
    thaw,
)
from lifecycle.budget import DELETE_VERSION, UPDATE_VERSION, Lane, budget_region
from lifecycle.changes import VersionChange
from lifecycle.gateways.errors import GatewayError, RetryableError
from lifecycle.gateways.ports import EventPublisher
from lifecycle.model import ObservedImage, ObservedVersion, TargetRegion, VersionRef, parse_version_id
from lifecycle.notifications import Notification
from lifecycle.planning.healing import entry_region
from lifecycle.planning.retention import still_deletable
from lifecycle.settling import all_shown, ambiguous

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    action: Action
    status: str
    error: str | None = None
    retryable: bool = False

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": self.action.kind.value,
            "target": self.action.target,
            "key": self.action.key,
            "status": self.status,
        }
        if self.error:
            out["error"] = self.error
            out["retryable"] = self.retryable
        return out


class GalleryWriter(Protocol):
    def update_version(self, change: VersionChange) -> None: ...

    def merge_tags(self, ref: VersionRef, tags: Mapping[str, str]) -> None: ...

    def delete_version(self, ref: VersionRef) -> None: ...

    def get_version(self, ref: VersionRef) -> ObservedVersion | None: ...


class Changed(Exception):
    """The version changed since the plan so that the write must not go ahead (a hold, an approval, a
    revocation set meanwhile): not done, and the next run plans again from what ARM then says."""


class RebakeRunner(Protocol):
    def start_run(self, template_id: str) -> None: ...


class WritePermit(Protocol):
    """Whether one write may start now: None, or why it waits for a later run. `region` is the written
    resource's location (Compute counts its limits per subscription and region)."""

    def __call__(self, subscription: str, operation: str, lane: Lane, *, region: str = "") -> str | None: ...


def lane_of(actions: Sequence[Action], version: ObservedVersion | None) -> Lane:
    """The priority of one write: deletions last; what a new build needs first (promotion, and the
    version's first replication: a version the app has not tagged yet, or holds out of `latest` until
    replicated); everything else (end-of-life, tags, re-replication of versions already handled) is bulk."""
    kinds = {a.kind for a in actions}
    if ActionKind.DELETE in kinds:
        return Lane.DELETE
    if ActionKind.PROMOTE in kinds:
        return Lane.NEW_BUILD
    if ActionKind.REPLICATE in kinds and version is not None:
        state = version.tags.get(lt.STATE)
        if state is None or state == lt.STATE_PENDING:
            return Lane.NEW_BUILD
    return Lane.BULK


def version_change(ref: VersionRef, actions: Sequence[Action]) -> VersionChange:
    """Every property change planned for the version, folded into one update (the gallery gateway turns
    it into ARM's request). Tags are not part of it: they are merged by name (`tag_changes`)."""
    regions: tuple[TargetRegion, ...] | None = None
    end_of_life: str | None = None
    exclude: bool | None = None
    region_excludes: dict[str, bool] = {}
    for action in actions:
        after = thaw(action.after)
        if action.kind is ActionKind.REPLICATE:
            regions = tuple(entry_region(r) for r in after["regions"])
        elif action.kind is ActionKind.END_OF_LIFE:
            end_of_life = after["end_of_life"]
        elif action.kind in (ActionKind.EXCLUDE_FROM_LATEST, ActionKind.PROMOTE):
            exclude = after["exclude_from_latest"]
            if after.get("regions") and regions is None:
                # A promotion that clears regions the app excluded sends every region.
                regions = tuple(entry_region(r) for r in after["regions"])
            region_excludes.update(after.get("region_excludes") or {})
    if region_excludes and regions is not None:
        # Whichever action sent the regions (a replicate of the same version sends them all), the regions'
        # own excludeFromLatest the promotion clears go out with them.
        regions = tuple(
            replace(r, exclude_from_latest=region_excludes[r.name])
            if region_excludes.get(r.name) is not None
            else r
            for r in regions
        )
    return VersionChange(ref, target_regions=regions, end_of_life=end_of_life, exclude_from_latest=exclude)


def gated(actions: Sequence[Action]) -> bool:
    """Whether the state tag must wait for these updates: a promotion (once the tag says `active`, no plan
    promotes again), or an exclusion that announces something (expiry, revocation: once the tag says so, no
    plan announces it again). An exclusion that only holds a version back (pending, pending approval) is
    planned again from `excludeFromLatest` alone, whatever the tag says."""
    return any(
        a.kind is ActionKind.PROMOTE or (a.kind is ActionKind.EXCLUDE_FROM_LATEST and bool(a.notifications))
        for a in actions
    )


def tag_changes(actions: Sequence[Action]) -> dict[str, str]:
    """Our tags to merge onto the version (only the keys we set; every other tag stays as ARM has it)."""
    changes: dict[str, str] = {}
    for action in actions:
        if action.kind is ActionKind.TAG:
            changes.update(thaw(action.after)["tags"])
    return changes


class Executor:
    def __init__(
        self,
        gallery: GalleryWriter,
        rebakes: RebakeRunner | None = None,
        publisher: EventPublisher | None = None,
        *,
        dry_run: bool = False,
        may_write: WritePermit | None = None,
        new_builds_done: Callable[[], None] | None = None,
    ) -> None:
        self._gallery = gallery
        self._rebakes = rebakes
        self._publisher = publisher
        self.dry_run = dry_run
        self._may_write = may_write
        self._new_builds_done = new_builds_done
        self._needs: dict[int, list[Action]] = {}  # id(tag actions) -> the update they must follow

    def execute(self, actions: Sequence[Action], image: ObservedImage) -> list[Outcome]:
        if self.dry_run:
            return [Outcome(a, PLANNED) for a in actions]
        outcomes: list[Outcome] = []
        updates: dict[str, list[Action]] = defaultdict(list)
        for action in actions:
            if action.kind in VERSION_UPDATES:
                updates[action.target.lower()].append(action)
        writes: list[tuple[Lane, int, list[Action], Callable[[], None], str, str, str]] = []
        for grouped in updates.values():
            ref = parse_version_id(grouped[0].target)
            version = image.version(ref.name)
            if version is None:
                outcomes.extend(
                    Outcome(a, FAILED, "version not found in the observed image") for a in grouped
                )
                continue
            lane = lane_of(grouped, version)
            tagging = [a for a in grouped if a.kind is ActionKind.TAG]
            properties = [a for a in grouped if a.kind is not ActionKind.TAG]
            tags_write = (
                lane,
                0,
                tagging,
                lambda r=ref, g=tagging: self._gallery.merge_tags(r, tag_changes(g)),
                ref.image_ref.subscription,
                UPDATE_VERSION,
                version.location,
            )
            props_write = (
                lane,
                0,
                properties,
                lambda v=version, g=properties: self._gallery.update_version(version_change(v.ref, g)),
                ref.image_ref.subscription,
                UPDATE_VERSION,
                version.location,
            )
            if gated(properties):
                # The state tag must never run ahead of `latest`: were it written and the exclusion or
                # promotion refused, the next plan would take the tag for done (no event, or no promotion).
                # The update goes first, and the tags only once it took.
                order = [props_write, tags_write]
                self._needs[id(tagging)] = [a for a in properties if gated([a])]
            else:
                # Tags first: a version being updated (after the PATCH) takes no other write.
                order = [tags_write, props_write]
            for write in order:
                if write[2]:
                    writes.append((write[0], len(writes), *write[2:]))
        for action in actions:
            if action.kind is ActionKind.DELETE:
                ref = parse_version_id(action.target)
                planned = image.version(ref.name)
                writes.append(
                    (
                        Lane.DELETE,
                        len(writes),
                        [action],
                        functools.partial(self._delete, ref, planned),
                        ref.image_ref.subscription,
                        DELETE_VERSION,
                        planned.location if planned is not None else image.location,
                    )
                )
        # Stable within a lane: the planner's order is kept for writes of equal priority.
        for lane, _, grouped, call, subscription, operation, region in sorted(
            writes, key=lambda w: (w[0], w[1])
        ):
            if lane is not Lane.NEW_BUILD:
                self._lane_passed()
            why = (
                self._may_write(subscription, operation, lane, region=region)
                if self._may_write is not None
                else None
            )
            first = self._needs.get(id(grouped))
            if why is None and first is not None:
                settled = {o.action.key for o in outcomes if o.status == SUCCEEDED}
                if not all(a.key in settled for a in first):
                    why = "waits for the version's update, which did not take in this run"
            if why is not None:
                outcomes.extend(Outcome(a, DEFERRED, why, retryable=True) for a in grouped)
                continue
            with budget_region(region):
                done = self._run(grouped, call, settle=functools.partial(self._settle, grouped))
                outcomes.extend(self._unheld(grouped, done, image))
        self._lane_passed()
        for action in actions:
            if action.kind is ActionKind.REBAKE:
                outcomes.extend(self._run([action], functools.partial(self._rebake, action)))
        return outcomes

    def _delete(self, ref: VersionRef, planned: ObservedVersion | None) -> None:
        """Read the version again and delete it only if it is still as eligible as when it was planned:
        an operator's hold, an approval or a revocation set since then keeps it."""
        current = self._gallery.get_version(ref)
        why = still_deletable(planned, current)
        if why is not None:
            raise Changed(why)
        self._gallery.delete_version(ref)

    def _lane_passed(self) -> None:
        """Every new-build write of this image has been admitted or deferred: say so (once)."""
        if self._new_builds_done is not None:
            self._new_builds_done()
            self._new_builds_done = None

    def _rebake(self, action: Action) -> None:
        template = action.after.get("image_template")
        if template:
            if self._rebakes is None:
                raise GatewayError("no Image Builder gateway configured")
            self._rebakes.start_run(str(template))
        elif action.after.get("publish_event"):
            # The request is the event itself: publish it now, so a failed delivery fails the action
            # and the rebake stays due, instead of being remembered as triggered and lost.
            if self._publisher is None:
                raise GatewayError("no events endpoint configured for publish_event rebakes")
            self._publisher.publish(list(action.notifications))

    def _unheld(self, grouped: list[Action], done: list[Outcome], image: ObservedImage) -> list[Outcome]:
        """No write of a version waits on its healing: when Azure refuses an update for good (a 4xx, say
        403 LinkedAuthorizationFailed on a disk encryption set its regions name) and it carried a healing
        write, the version's other changes (end-of-life, excludeFromLatest) go out again on their own."""
        heal = [a for a in grouped if a.kind is ActionKind.REPLICATE and a.after.get("heal")]
        rest = [a for a in grouped if a not in heal]
        refused = any(o.status == FAILED and not o.retryable for o in done)
        if not heal or not rest or not refused:
            return done
        version = image.version(parse_version_id(grouped[0].target).name)
        if version is None:
            return done
        log.warning(
            "healing write refused; the version's other changes are written without it",
            extra={"target": grouped[0].target},
        )
        again = self._run(
            rest,
            lambda: self._gallery.update_version(version_change(version.ref, rest)),
            settle=functools.partial(self._settle, rest),
        )
        return [o for o in done if o.action in heal] + again

    def _settle(self, actions: Sequence[Action]) -> bool:
        """Read the version again: does it show every change these actions meant? (An unreadable version
        settles nothing: the failure stands.)"""
        try:
            current = self._gallery.get_version(parse_version_id(actions[0].target))
        except GatewayError as exc:
            log.warning(
                "ambiguous answer not settled: the version could not be read",
                extra={"target": actions[0].target, "error": str(exc)},
            )
            return False
        return all_shown(list(actions), current)

    @staticmethod
    def _run(
        actions: Sequence[Action], call: Callable[[], None], settle: Callable[[], bool] | None = None
    ) -> list[Outcome]:
        try:
            call()
        except Changed as exc:
            log.warning(
                "write not made: the version changed since the plan",
                extra={"target": actions[0].target, "reason": str(exc)},
            )
            return [Outcome(a, DEFERRED, f"not done: {exc}", retryable=True) for a in actions]
        except GatewayError as exc:
            if settle is not None and ambiguous(exc) and settle():
                # The answer said failed, the resource says done (a retried write met its own change).
                log.info(
                    "ambiguous answer settled by reading: the write took effect",
                    extra={"target": actions[0].target, "answer": str(exc)},
                )
                return [Outcome(a, SUCCEEDED) for a in actions]
            # A permanent failure (a 403 naming the missing action and scope) needs a person: an error.
            (log.warning if isinstance(exc, RetryableError) else log.error)(
                "action failed",
                extra={
                    "actions": [a.kind.value for a in actions],
                    "target": actions[0].target,
                    "error": str(exc),
                },
            )
            retryable = isinstance(exc, RetryableError)
            if retryable and exc.status == 429:
                # Throttled, and asked to wait longer than an invocation may sleep: a later run does it.
                return [Outcome(a, DEFERRED, str(exc), True) for a in actions]
            return [Outcome(a, FAILED, str(exc), retryable) for a in actions]
        return [Outcome(a, SUCCEEDED) for a in actions]


def notifications_of(outcomes: Sequence[Outcome]) -> list[Notification]:
    """Notifications carried by actions that succeeded and still to be published (a dry-run announces
    nothing; a publish_event rebake has published its own)."""
    return [
        n
        for o in outcomes
        if o.status == SUCCEEDED and not announced_by_executor(o.action)
        for n in o.action.notifications
    ]
