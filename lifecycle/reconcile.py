"""One reconcile for every trigger: load the policy, re-read ARM, plan, execute, remember, audit, report.

An event only narrows the scope to one image; it is never trusted as state. Each image is handled under
a blob lease, so a sweep and an event on the same image never overwrite each other's writes.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from lifecycle.actions import ActionKind
from lifecycle.config import PolicyStatus, load_policy
from lifecycle.events import BuildCompleted
from lifecycle.executor import FAILED, PLANNED, Executor, Outcome, notifications_of
from lifecycle.gateways.errors import GatewayError, PreconditionFailed, RetryableError
from lifecycle.gateways.gallery import GalleryGateway
from lifecycle.gateways.storage import StateStore, _safe, policy_source, state_store
from lifecycle.model import (
    GalleryRef,
    ImageRef,
    ImageUsage,
    InvalidResourceId,
    VersionRef,
    iso,
    parse_resource_id,
)
from lifecycle.notifications import Notification
from lifecycle.planning import ImagePlan, plan_image
from lifecycle.planning.rebake import RunObservation
from lifecycle.planning.retention import SoftDelete, deletes_possible
from lifecycle.policy import ImagePolicy, Policy
from lifecycle.settings import Settings
from lifecycle.state import ImageState, PendingBuild, RebakeState

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Trigger:
    """Why a reconcile runs: `source` is sweep, event, policy or cli; `scope` narrows it to a resource."""

    source: str
    scope: str | None = None
    build: BuildCompleted | None = None
    event_id: str | None = None


@dataclass
class RunReport:
    at: datetime
    trigger: Trigger
    mode: str = "enforce"
    plans: list[ImagePlan] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)
    notifications: list[Notification] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    policy_problem: str | None = None
    no_policy: bool = False

    @property
    def failed(self) -> bool:
        return bool(self.errors) or any(o.status == FAILED for o in self.outcomes)

    def summary(self) -> dict[str, Any]:
        counts: dict[str, int] = {}
        for plan in self.plans:
            for action in plan.actions:
                counts[action.kind.value] = counts.get(action.kind.value, 0) + 1
        return {
            "images": len(self.plans),
            "actions": sum(len(p.actions) for p in self.plans),
            "by_kind": counts,
            "succeeded": sum(1 for o in self.outcomes if o.status == "succeeded"),
            "failed": sum(1 for o in self.outcomes if o.status == FAILED),
            "planned": sum(1 for o in self.outcomes if o.status == PLANNED),
            "notifications": len(self.notifications),
            "errors": len(self.errors),
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "at": iso(self.at),
            "mode": self.mode,
            "trigger": {"source": self.trigger.source, "scope": self.trigger.scope},
            "policy_problem": self.policy_problem,
            "actions": [a.to_json() for p in self.plans for a in p.actions],
            "outcomes": [o.to_json() for o in self.outcomes],
            "images": [
                {
                    "image": p.image.id,
                    "versions": [v.to_json() for v in p.versions],
                    "rebake": p.rebake.to_json() if p.rebake else None,
                    "warnings": list(p.warnings),
                }
                for p in self.plans
            ],
            "notifications": [n.to_json() for n in self.notifications],
            "errors": self.errors,
            "skipped": self.skipped,
            "summary": self.summary(),
        }


@dataclass
class Runtime:
    """The gateways one reconcile uses; built from settings, replaceable for the CLI and tests."""

    settings: Settings
    gallery: GalleryGateway
    store: StateStore
    publisher: Any
    imagebuilder: Any = None
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    @classmethod
    def from_settings(cls, settings: Settings, env: dict[str, str] | None = None) -> Runtime:
        from lifecycle.gateways.imagebuilder import ImageBuilderGateway
        from lifecycle.gateways.publisher import publisher_from_settings

        return cls(
            settings=settings,
            gallery=GalleryGateway(settings),
            store=state_store(settings),
            publisher=publisher_from_settings(dict(os.environ) if env is None else env),
            imagebuilder=ImageBuilderGateway(settings),
        )


def _image_state_name(image: ImageRef) -> str:
    return f"images/{_safe(image.key())}.json"


class Reconciler:
    def __init__(self, runtime: Runtime, *, plan_only: bool = False, at: datetime | None = None) -> None:
        self.rt = runtime
        self.plan_only = plan_only
        self.at = at
        self._usage: ImageUsage | None = None
        self._soft_delete: dict[str, SoftDelete | None] = {}
        self._deletes_used = 0

    def run(self, trigger: Trigger) -> RunReport:
        now = self.at or self.rt.clock()
        report = RunReport(at=now, trigger=trigger)
        status = self._policy(now, report)
        if status.policy is None:
            report.no_policy = True
            report.errors.append(status.problem or "no valid policy has been accepted yet")
            self._publish(report.notifications, report)  # ConfigRejected goes out even without a policy
            return report
        policy = status.policy
        report.mode = "plan" if self.plan_only else policy.mode
        deletes_blocked = _deletes_paused(status.problem)
        try:
            targets = list(self._targets(policy, trigger, report))
        except GatewayError as exc:
            report.errors.append(str(exc))
            return report
        for image_policy, image, location, tags in targets:
            try:
                self._image(
                    image_policy, image, location, tags, trigger, now, deletes_blocked, policy, report
                )
            except RetryableError as exc:
                report.skipped.append(f"{image.id}: {exc}")
            except GatewayError as exc:
                report.errors.append(f"{image.id}: {exc}")
        self._publish(report.notifications, report)
        return report

    def _policy(self, now: datetime, report: RunReport) -> PolicyStatus:
        status = load_policy(policy_source(self.rt.settings), self.rt.store, now, remember=not self.plan_only)
        report.policy_problem = status.problem
        if status.newly_rejected is not None:
            report.notifications.append(status.newly_rejected)
            self._audit(
                [
                    {
                        "time": iso(now),
                        "trigger": report.trigger.source,
                        "target": status.newly_rejected.subject,
                        "action": "policy_rejected",
                        "outcome": "rejected",
                        "after": dict(status.newly_rejected.data),
                    }
                ],
                now,
            )
        return status

    def _targets(
        self, policy: Policy, trigger: Trigger, report: RunReport
    ) -> Iterable[tuple[ImagePolicy, ImageRef, str, dict[str, str]]]:
        scope: GalleryRef | ImageRef | VersionRef | None = None
        if trigger.scope:
            try:
                scope = parse_resource_id(trigger.scope)
            except InvalidResourceId as exc:
                report.errors.append(str(exc))
                return
        if isinstance(scope, VersionRef):
            scope = scope.image_ref
        if isinstance(scope, ImageRef):
            image_policy = policy.for_image(scope)
            if image_policy is None:
                report.skipped.append(f"{scope.id}: not in the policy's scope")
                return
            found = self.rt.gallery.get_image(scope)
            if found is None:
                report.skipped.append(f"{scope.id}: image definition not found")
                return
            yield image_policy, scope, found[0], found[1]
            return
        for gallery in policy.galleries:
            ref = gallery.ref
            if isinstance(scope, GalleryRef) and scope.key() != ref.key():
                continue
            try:
                images = self.rt.gallery.list_images(ref)
            except GatewayError as exc:
                # One gallery out of reach must not stop the others.
                report.errors.append(f"{ref.id}: {exc}")
                continue
            for image, location, tags in images:
                image_policy = policy.for_image(image)
                if image_policy is not None:
                    yield image_policy, image, location, tags
        if isinstance(scope, GalleryRef) and policy.gallery(scope) is None:
            report.skipped.append(f"{scope.id}: not in the policy's scope")

    def _image(
        self,
        image_policy: ImagePolicy,
        ref: ImageRef,
        location: str,
        tags: dict[str, str],
        trigger: Trigger,
        now: datetime,
        deletes_blocked: str | None,
        policy: Policy,
        report: RunReport,
    ) -> None:
        dry_run = self.plan_only or image_policy.dry_run
        # `plan` writes nothing, not even a lease; it only reads.
        lease = (
            contextlib.nullcontext()
            if self.plan_only
            else self.rt.store.lease(ref.key(), self.rt.settings.lease_seconds)
        )
        with lease:
            name = _image_state_name(ref)
            saved, etag = self.rt.store.read_json(name)
            state = ImageState.from_json(saved)
            if trigger.build is not None and trigger.build.version.image_ref.key() == ref.key():
                meta = trigger.build.metadata
                state = state.with_build(
                    trigger.build.version.name,
                    PendingBuild(tags=meta.tags(), lifetime_days=meta.lifetime_days, received=now),
                )
            observed = self.rt.gallery.read_image(ref, location, tags)
            lifetimes = {k: b.lifetime_days for k, b in state.pending_builds.items() if b.lifetime_days}
            usage = None
            soft_delete = None
            if deletes_blocked is None and deletes_possible(image_policy.retention, observed, now, lifetimes):
                usage = self._read_usage(policy)
                soft_delete = self._read_soft_delete(ref.gallery_ref)
            budget = max(0, image_policy.retention.max_deletes_per_run - self._deletes_used)
            plan = plan_image(
                image_policy,
                observed,
                now,
                state=state,
                usage=usage,
                delete_budget=budget,
                deletes_blocked=deletes_blocked,
                run=self._rebake_run(image_policy, state),
                soft_delete=soft_delete,
            )
            self._deletes_used += plan.deletes
            actions = list(plan.actions)
            claimed_elsewhere: RebakeState | None = None
            if not dry_run and any(a.kind is ActionKind.REBAKE for a in actions):
                # Claim the rebake before starting it: of two instances, only one ETag write wins.
                try:
                    etag = self.rt.store.write_json(name, plan.state.to_json(), etag=etag)
                except PreconditionFailed:
                    actions = [a for a in actions if a.kind is not ActionKind.REBAKE]
                    report.skipped.append(f"{ref.id}: rebake already triggered by another run")
                    # Standing down is not a failure: the winner's rebake memory is kept, and the rest
                    # of this plan is written over the document the winner left.
                    saved, etag = self.rt.store.read_json(name)
                    claimed_elsewhere = ImageState.from_json(saved).rebake
            executor = Executor(self.rt.gallery, self.rt.imagebuilder, self.rt.publisher, dry_run=dry_run)
            outcomes = executor.execute(actions, observed)
            new_state = self._state_after(plan, outcomes, before=state)
            if claimed_elsewhere is not None:
                new_state = replace(new_state, rebake=claimed_elsewhere)
            if not self.plan_only and new_state.to_json() != (saved or ImageState().to_json()):
                if dry_run:
                    new_state = replace(new_state, rebake=state.rebake)
                try:
                    self.rt.store.write_json(name, new_state.to_json(), etag=etag)
                except PreconditionFailed:
                    report.errors.append(
                        f"{ref.id}: state changed by another run; it will be re-read next time"
                    )
        report.plans.append(replace(plan, actions=tuple(actions)))
        report.outcomes.extend(outcomes)
        if not dry_run:
            report.notifications.extend(notifications_of(outcomes))
            report.notifications.extend(plan.notifications)
        if not self.plan_only:
            self._audit([_audit_record(o, trigger, now) for o in outcomes], now)
        log.info(
            "image reconciled",
            extra={
                "image": ref.id,
                "actions": len(actions),
                "failed": sum(o.status == FAILED for o in outcomes),
            },
        )

    def _state_after(self, plan: ImagePlan, outcomes: list[Outcome], *, before: ImageState) -> ImageState:
        state = plan.state
        for outcome in outcomes:
            if outcome.action.kind is not ActionKind.REBAKE or outcome.status != FAILED:
                continue
            if outcome.action.after.get("publish_event"):
                # Nothing was requested: forget the trigger, so the rebake is due again next sweep.
                rebake = replace(before.rebake, last_outcome=f"request not delivered: {outcome.error}")
            else:
                rebake = replace(
                    state.rebake,
                    running=False,
                    consecutive_failures=state.rebake.consecutive_failures + 1,
                    last_outcome=f"start failed: {outcome.error}",
                )
            state = replace(state, rebake=rebake)
        return state

    def _rebake_run(self, image_policy: ImagePolicy, state: ImageState) -> RunObservation | None:
        template = image_policy.rebake.image_template
        if not template or self.rt.imagebuilder is None:
            return None
        if not (image_policy.rebake.schedule or image_policy.rebake.max_age_days):
            return None
        try:
            run: RunObservation | None = self.rt.imagebuilder.last_run(template)
            return run
        except GatewayError as exc:
            log.warning(
                "could not read the image template's last run",
                extra={"template": template, "error": str(exc)},
            )
            return RunObservation(state="Unknown", message=str(exc))

    def _read_usage(self, policy: Policy) -> ImageUsage:
        if self._usage is None:
            self._usage = self.rt.gallery.usage({g.ref.subscription for g in policy.galleries})
        return self._usage

    def _read_soft_delete(self, gallery: GalleryRef) -> SoftDelete | None:
        """The gallery's soft delete, read once per run; unknown (None) if ARM cannot say: it only
        changes what the delete reports, never whether it happens."""
        key = gallery.key()
        if key not in self._soft_delete:
            try:
                enabled, days = self.rt.gallery.soft_delete(gallery)
                self._soft_delete[key] = SoftDelete(enabled, days)
            except GatewayError as exc:
                log.warning("could not read the gallery's soft delete policy", extra={"error": str(exc)})
                self._soft_delete[key] = None
        return self._soft_delete[key]

    def _audit(self, records: list[dict[str, Any]], now: datetime) -> None:
        if not records:
            return
        try:
            self.rt.store.append_audit(records, day=now.date())
        except GatewayError as exc:
            log.error("audit log append failed", extra={"error": str(exc), "records": len(records)})

    def _publish(self, notifications: list[Notification], report: RunReport) -> None:
        if not notifications:
            return
        try:
            self.rt.publisher.publish(notifications)
        except Exception as exc:  # delivery failure must not undo or hide the writes already made
            report.errors.append(f"publishing {len(notifications)} lifecycle events failed: {exc}")


def _deletes_paused(problem: str | None) -> str | None:
    """Why deletes pause while the policy document is not the one in force (the problem text of a
    rejected policy starts with its URL, so it is not the reason itself)."""
    if not problem:
        return None
    why = "cannot be read" if problem.startswith("policy cannot be read") else "rejected"
    return f"policy {why}: deletes paused until a valid policy is in force"


def _audit_record(outcome: Outcome, trigger: Trigger, now: datetime) -> dict[str, Any]:
    record = outcome.action.to_json()
    return {
        "time": iso(now),
        "trigger": trigger.source,
        "event_id": trigger.event_id,
        "target": record["target"],
        "action": record["kind"],
        "reason": record["reason"],
        "before": record["before"],
        "after": record["after"],
        "key": record["key"],
        "outcome": outcome.status,
        "error": outcome.error,
    }


def reconcile(
    trigger: Trigger,
    *,
    settings: Settings | None = None,
    runtime: Runtime | None = None,
    plan_only: bool = False,
    at: datetime | None = None,
) -> RunReport:
    """Run one reconcile with gateways built from the environment (or the given runtime)."""
    if runtime is None:
        runtime = Runtime.from_settings(settings or Settings.from_env())
    return Reconciler(runtime, plan_only=plan_only, at=at).run(trigger)
