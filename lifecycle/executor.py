"""Carry out a plan: one outcome per action, dry-run honoured, and going on after a failure.

Updates of one version are folded into a single PATCH (a version being updated cannot take a second
write). Long-running operations are started, not awaited. Writes run in priority order (what a new build
needs, then bulk work, then deletions); each asks the write budget and the run's deadline first, and a
write either may not start (or Azure throttles it) is deferred: not done, not failed, planned again by the
next run.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from lifecycle import tags as lt
from lifecycle.actions import VERSION_UPDATES, Action, ActionKind, thaw
from lifecycle.budget import DELETE_VERSION, UPDATE_VERSION, Lane
from lifecycle.gateways.errors import GatewayError, RetryableError
from lifecycle.model import ObservedImage, ObservedVersion, parse_version_id
from lifecycle.notifications import Notification

log = logging.getLogger(__name__)

SUCCEEDED = "succeeded"
FAILED = "failed"
PLANNED = "planned"  # dry-run: recorded, not done
DEFERRED = "deferred"  # not started (budget, throttling or the run's time): the next run plans it again


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
    def update_version(self, version: ObservedVersion, patch: dict[str, Any]) -> None: ...

    def delete_version(self, ref: Any) -> None: ...


class RebakeRunner(Protocol):
    def start_run(self, template_id: str) -> None: ...


class Publisher(Protocol):
    def publish(self, notifications: Sequence[Notification]) -> None: ...


class WritePermit(Protocol):
    """Whether one write may start now: None, or why it waits for a later run."""

    def __call__(self, subscription: str, operation: str, lane: Lane) -> str | None: ...


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


def version_patch(version: ObservedVersion, actions: Sequence[Action]) -> dict[str, Any]:
    """One PATCH body carrying every change planned for the version."""
    profile: dict[str, Any] = {}
    tag_changes: dict[str, str] = {}
    region_excludes: dict[str, bool] = {}
    from lifecycle.gateways.gallery import target_regions_to_arm
    from lifecycle.regions import normalize_region

    for action in actions:
        after = thaw(action.after)
        if action.kind is ActionKind.REPLICATE:
            profile["targetRegions"] = target_regions_to_arm(after["regions"])
        elif action.kind is ActionKind.END_OF_LIFE:
            profile["endOfLifeDate"] = after["end_of_life"]
        elif action.kind in (ActionKind.EXCLUDE_FROM_LATEST, ActionKind.PROMOTE):
            profile["excludeFromLatest"] = after["exclude_from_latest"]
            if after.get("regions") and "targetRegions" not in profile:
                # A promotion that clears regions the app excluded sends every region.
                profile["targetRegions"] = target_regions_to_arm(after["regions"])
            region_excludes.update(after.get("region_excludes") or {})
        elif action.kind is ActionKind.TAG:
            tag_changes.update(after["tags"])
    if region_excludes and "targetRegions" in profile:
        # Whichever action sent the regions (a replicate of the same version sends them all), the regions'
        # own excludeFromLatest the promotion clears go out with them.
        for entry in profile["targetRegions"]:
            flag = region_excludes.get(normalize_region(str(entry["name"])))
            if flag is not None:
                entry["excludeFromLatest"] = flag
    patch: dict[str, Any] = {}
    if profile:
        # GalleryImageVersionProperties marks storageProfile required, and every update example of the
        # spec sends one; `{}` (GalleryImageVersion_Update_WithoutSourceId) changes nothing in it.
        patch["properties"] = {"publishingProfile": profile, "storageProfile": {}}
    if tag_changes:
        patch["tags"] = lt.merged(version.tags, tag_changes)
    return patch


class Executor:
    def __init__(
        self,
        gallery: GalleryWriter,
        rebakes: RebakeRunner | None = None,
        publisher: Publisher | None = None,
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

    def execute(self, actions: Sequence[Action], image: ObservedImage) -> list[Outcome]:
        if self.dry_run:
            return [Outcome(a, PLANNED) for a in actions]
        outcomes: list[Outcome] = []
        updates: dict[str, list[Action]] = defaultdict(list)
        for action in actions:
            if action.kind in VERSION_UPDATES:
                updates[action.target.lower()].append(action)
        writes: list[tuple[Lane, int, list[Action], Any, str, str]] = []
        for grouped in updates.values():
            ref = parse_version_id(grouped[0].target)
            version = image.version(ref.name)
            if version is None:
                outcomes.extend(
                    Outcome(a, FAILED, "version not found in the observed image") for a in grouped
                )
                continue
            writes.append(
                (
                    lane_of(grouped, version),
                    len(writes),
                    grouped,
                    lambda v=version, g=grouped: self._gallery.update_version(v, version_patch(v, g)),
                    ref.image_ref.subscription,
                    UPDATE_VERSION,
                )
            )
        for action in actions:
            if action.kind is ActionKind.DELETE:
                ref = parse_version_id(action.target)
                writes.append(
                    (
                        Lane.DELETE,
                        len(writes),
                        [action],
                        lambda r=ref: self._gallery.delete_version(r),
                        ref.image_ref.subscription,
                        DELETE_VERSION,
                    )
                )
        # Stable within a lane: the planner's order is kept for writes of equal priority.
        for lane, _, grouped, call, subscription, operation in sorted(writes, key=lambda w: (w[0], w[1])):
            if lane is not Lane.NEW_BUILD:
                self._lane_passed()
            why = self._may_write(subscription, operation, lane) if self._may_write is not None else None
            if why is not None:
                outcomes.extend(Outcome(a, DEFERRED, why, retryable=True) for a in grouped)
                continue
            outcomes.extend(self._run(grouped, call))
        self._lane_passed()
        for action in actions:
            if action.kind is ActionKind.REBAKE:
                outcomes.extend(self._run([action], lambda a=action: self._rebake(a)))
        return outcomes

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

    @staticmethod
    def _run(actions: Sequence[Action], call: Any) -> list[Outcome]:
        try:
            call()
        except GatewayError as exc:
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


def _published_by_action(action: Action) -> bool:
    return action.kind is ActionKind.REBAKE and bool(action.after.get("publish_event"))


def notifications_of(outcomes: Sequence[Outcome]) -> list[Notification]:
    """Notifications carried by actions that succeeded and still to be published (a dry-run announces
    nothing; a publish_event rebake has published its own)."""
    return [
        n
        for o in outcomes
        if o.status == SUCCEEDED and not _published_by_action(o.action)
        for n in o.action.notifications
    ]
