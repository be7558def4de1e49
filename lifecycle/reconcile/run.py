"""A run over targets: load the policy, find the images in scope, run each image's unit, publish.

An event only narrows the scope to one image; it is never trusted as state. Each image is handled under
a blob lease (see `image.py`), so a sweep and an event on the same image never overwrite each other's
writes.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from lifecycle import budget
from lifecycle import outbox as ob
from lifecycle import tags as lt
from lifecycle.budget import DELETE_VERSION, UPDATE_VERSION
from lifecycle.config import PolicyStatus, load_policy
from lifecycle.events import BuildCompleted
from lifecycle.gateways.errors import GatewayError
from lifecycle.gateways.storage import policy_source
from lifecycle.model import GalleryRef, ImageRef, InvalidResourceId, VersionRef, iso, parse_resource_id
from lifecycle.notifications import Notification
from lifecycle.planning.gates import parent_key
from lifecycle.policy import Policy
from lifecycle.reconcile.allowance import DeleteAllowance
from lifecycle.reconcile.audit import AuditRecord, append_audit
from lifecycle.reconcile.delivery import deliver_and_drop
from lifecycle.reconcile.fleet_report import write_fleet_report, write_from_parts, write_parts
from lifecycle.reconcile.image import reconcile_image
from lifecycle.reconcile.intake import record as record_event
from lifecycle.reconcile.inventory import freshness_for, needed
from lifecycle.reconcile.notes import Kind, Note, failure, from_text
from lifecycle.reconcile.report import ImageResult, RunReport, Trigger
from lifecycle.reconcile.revocation import revoked_by
from lifecycle.reconcile.runtime import RunContext, Runtime, Target
from lifecycle.settings import Settings
from lifecycle.trust import APPROVAL, BUILD, trust_decision

log = logging.getLogger(__name__)


class Reconciler:
    def __init__(self, runtime: Runtime, *, plan_only: bool = False, at: datetime | None = None) -> None:
        self.rt = runtime
        self.plan_only = plan_only
        self.at = at

    def run(self, trigger: Trigger) -> RunReport:
        now = self.at or self.rt.clock()
        report = RunReport(at=now, trigger=trigger)
        status = self._policy(now, report)
        if status.policy is None:
            report.no_policy = True
            report.errors.append(_no_policy(status))
            self._publish(report.notifications, report)  # ConfigRejected goes out even without a policy
            return report
        policy = status.policy
        report.mode = "plan" if self.plan_only else policy.mode
        if trigger.build is not None and self._build_rejected(policy, trigger.build, now, report):
            return report
        if (
            trigger.gate is not None
            and trigger.source == "event"
            and self._gate_rejected(policy, trigger, now, report)
        ):
            return report
        deletes_blocked = _deletes_paused(status) or _no_deletes(trigger)
        if trigger.source == "sweep" and not self.plan_only and deletes_blocked is None:
            # Each timer sweep opens the next delete interval, shared by its messages and CLI runs.
            try:
                DeleteAllowance(self.rt.store).open(now)
            except GatewayError as exc:
                report.errors.append(
                    Note(
                        failure("", exc).kind,
                        "",
                        f"delete allowance not opened, no version is deleted this sweep: {exc}",
                    )
                )
                deletes_blocked = "delete allowance unavailable: deletes paused"
        ctx = RunContext(
            self.rt,
            policy,
            now,
            plan_only=self.plan_only,
            deletes_blocked=deletes_blocked,
            freshness=freshness_for(trigger.source),
        )
        if trigger.sweep and not self.plan_only:
            # The images of one fanned-out sweep run apart: they share base-image reads through the store.
            ctx.lineage.share(self.rt.store, trigger.sweep)
        try:
            targets = list(self.targets(policy, trigger, report))
        except GatewayError as exc:
            report.errors.append(failure_of_text(exc))
            self._record_errors(report, now)
            return report
        run_events = list(report.notifications)  # ConfigRejected; images deliver theirs through their outbox
        if trigger.source == "sweep" and self.rt.queue is not None and not self.plan_only:
            # Fan-out: one message per image; the queue function runs each image's unit. The in-use
            # inventory is listed once here and kept for the messages of this sweep.
            if needed(policy):
                ctx.inventory()
                report.errors.extend(ctx.problems.values())
            self._fan_out(targets, report)
            self._who_runs(ctx, report)
            self._publish(run_events, report)
            self._record_errors(report, now)
            write_from_parts(self.rt.store, report, [t.image for t in targets])
            return report
        token = budget.current.set(ctx.budget)
        try:
            for result in self.run_images(ctx, targets, trigger):
                report.add(result)
            if trigger.gate is not None:
                self._gate_outcome(ctx, trigger, report)
        finally:
            budget.current.reset(token)
        report.budget = _budget_report(ctx, targets)
        if trigger.source in ("sweep", "cli"):
            self._who_runs(ctx, report)
        report.errors.extend(ctx.problems.values())
        self._publish(run_events, report)
        self._record_errors(report, now)
        if trigger.source == "sweep" and not self.plan_only:
            write_fleet_report(self.rt.store, report)
        elif trigger.source == "queue" and not self.plan_only:
            write_parts(self.rt.store, report)  # the next fanned-out sweep assembles them
        return report

    def _who_runs(self, ctx: RunContext, report: RunReport) -> None:
        """Who runs what, for the fleet report: when the policy has a `consumers` section or the run read
        the inventory anyway (never an extra listing for a policy that does not ask)."""
        section = ctx.policy.consumers
        if not (section.owner_tag or section.production_tags or section.warn_days or ctx.inventory_made):
            return
        found = ctx.consumers()
        report.warn_days = section.warn_days
        report.consumers = found.to_json() if found is not None else None

    def accept(self, trigger: Trigger) -> RunReport:
        """An event delivery when the fan-out queue runs the work: check it (the policy, and for a build or
        an approval the same trust decision as `run`), record what it carries in the image's state, enqueue
        the image. No ARM call; the queue function's run applies what was recorded. A policy change
        enqueues one message that fans the whole scope out (`run` of a sweep)."""
        now = self.at or self.rt.clock()
        report = RunReport(at=now, trigger=trigger)
        status = self._policy(now, report)
        if status.policy is None:
            report.no_policy = True
            report.errors.append(_no_policy(status))
            self._publish(report.notifications, report)
            return report
        policy = status.policy
        report.mode = policy.mode
        message: dict[str, Any]
        if trigger.source == "policy":
            message = {"fan_out": iso(now)}
            if trigger.event_id:
                message["event"] = trigger.event_id
        else:
            if trigger.build is not None and self._build_rejected(policy, trigger.build, now, report):
                return report
            if trigger.gate is not None and self._gate_rejected(policy, trigger, now, report):
                return report
            try:
                scope = parse_resource_id(trigger.scope or "")
            except InvalidResourceId as exc:
                report.errors.append(Note(Kind.PERMANENT, "", str(exc)))
                return report
            image = scope.image_ref if isinstance(scope, VersionRef) else scope
            if not isinstance(image, ImageRef) or policy.for_image(image) is None:
                report.skipped.append(
                    Note(Kind.OUT_OF_SCOPE, trigger.scope or "", "not in the policy's scope")
                )
                return report
            try:
                record_event(
                    self.rt.store,
                    image,
                    now=now,
                    build=trigger.build,
                    gate=trigger.gate,
                    event_id=trigger.event_id,
                )
            except GatewayError as exc:
                report.errors.append(Note(failure("", exc).kind, image.id, f"event not recorded: {exc}"))
                return report
            message = {"image": image.id}
            if trigger.event_id:
                message["event"] = trigger.event_id
        try:
            self.rt.fanout().send([message])
        except GatewayError as exc:
            report.errors.append(Note(failure("", exc).kind, "", f"event not enqueued: {exc}"))
            return report
        report.enqueued.append(str(message.get("image") or "*"))
        self._publish(report.notifications, report)
        return report

    def _build_rejected(
        self, policy: Policy, build: BuildCompleted, now: datetime, report: RunReport
    ) -> bool:
        """A build event from a sender the gallery does not trust changes nothing: no ARM call, no state;
        it is logged and audited as rejected (an event for a gallery out of scope is left to `targets`)."""
        gallery = policy.gallery(build.version.image_ref.gallery_ref)
        if gallery is None:
            return False
        reason = trust_decision(gallery, BUILD, build.schema, build.source)
        if reason is None:
            return False
        report.rejected.append(Note(Kind.REJECTED, build.version.id, f"build event rejected: {reason}"))
        log.warning(
            "build event rejected: %s",
            reason,
            extra={
                "event_id": build.event_id,
                "version": build.version.id,
                "source": build.source,
                "schema": build.schema,
            },
        )
        if not self.plan_only:
            record = AuditRecord.build_rejected(
                report.trigger,
                event_id=build.event_id,
                version_id=build.version.id,
                source=build.source,
                schema=build.schema,
                now=now,
                reason=reason,
            )
            append_audit(self.rt.store, [record], now.date())
        return True

    def _record_errors(self, report: RunReport, now: datetime) -> None:
        """Every error of the run (a denied call names ARM's action and scope) is logged and audited, so it
        is seen in the logs and the audit log as well as in the report and the exit code."""
        for note in report.errors:
            log.error("reconcile error", extra={"target": note.target, "error": str(note)})
        if not self.plan_only:
            records = [AuditRecord.run_error(report.trigger, note, now) for note in report.errors]
            append_audit(self.rt.store, records, now.date())

    def _gate_rejected(self, policy: Policy, trigger: Trigger, now: datetime, report: RunReport) -> bool:
        """An approval event from a sender the gallery does not trust changes nothing; it is audited."""
        request = trigger.gate
        assert request is not None
        gallery = policy.gallery(request.version.image_ref.gallery_ref)
        if request.kind == "approve":
            reason = trust_decision(gallery, APPROVAL, request.schema or "", request.source)
        else:
            reason = f"no event may {request.kind} a version (only the command line)"
        if reason is None:
            return False
        report.rejected.append(
            Note(Kind.REJECTED, request.version.id, f"{request.kind} event rejected: {reason}")
        )
        log.warning("%s event rejected: %s", request.kind, reason, extra={"event_id": trigger.event_id})
        if not self.plan_only:
            record = AuditRecord.gate_rejected(trigger, request, now, reason)
            append_audit(self.rt.store, [record], now.date())
        return True

    def _gate_outcome(self, ctx: RunContext, trigger: Trigger, report: RunReport) -> None:
        """An approval or revocation that reached no image is refused, naming why; a revocation that
        took effect flows to the versions built on it, across the galleries of the policy."""
        request = trigger.gate
        assert request is not None
        image_key = request.version.image_ref.key()
        if report.refused:
            return
        if not any(plan.image.key() == image_key for plan in report.plans):
            # Why its image was not reconciled (not in the policy, not found, an error), told of the version.
            why = next((n for n in [*report.skipped, *report.errors] if n.target.lower() == image_key), None)
            refused = (
                Note(Kind.REFUSED, request.version.id, why.detail)
                if why is not None
                else Note(Kind.REFUSED, request.version.id, "its image was not reconciled")
            )
            report.refused.append(refused)
            if trigger.source != "cli" and not self.plan_only:
                record = AuditRecord.gate_refused(trigger, ctx.now, refused)
                append_audit(self.rt.store, [record], ctx.now.date())
            return
        if request.kind == "revoke":
            self._descendants(ctx, trigger, report, _revoked(report, request.version))

    def _descendants(self, ctx: RunContext, trigger: Trigger, report: RunReport, revoked: set[str]) -> None:
        """Reconcile the images holding versions built on `revoked`, then theirs, down the tree: each
        child's own plan tags it (and, with inherit_revocation, revokes it). One read of every image in
        the policy finds who is built on what."""
        if not revoked:
            return
        children: dict[str, dict[str, Target]] = {}
        for target in self.targets(ctx.policy, Trigger(trigger.source), report):
            observed = ctx.lineage.image(target.image)
            if isinstance(observed, str):
                report.errors.append(from_text(Kind.PERMANENT, observed))
                continue
            for version in observed.versions:
                key = parent_key(version)
                if key is not None:
                    children.setdefault(key, {})[target.image.key()] = target
        frontier = set(revoked)
        for _ in range(MAX_GENERATIONS):
            due = {key: t for parent in frontier for key, t in children.get(parent, {}).items()}
            if not due:
                return
            frontier = set()
            for target in due.values():
                result = reconcile_image(
                    ctx, target, Trigger(trigger.source, scope=target.image.id, event_id=trigger.event_id)
                )
                report.add(result)
                frontier |= revoked_by(result.plan.actions if result.plan else (), result.outcomes)
        report.errors.append(
            Note(Kind.PERMANENT, "", f"revocation stopped after {MAX_GENERATIONS} generations of descendants")
        )

    def _fan_out(self, targets: list[Target], report: RunReport) -> None:
        """Report what the queue function gave up on (those images are in this sweep's messages again),
        then enqueue one message per image."""
        try:
            for message in self.rt.fanout().take_poison():
                image = str(message.get("image") or message.get("raw") or "?")
                line = f"{image}: gave up after {message.get('dequeue_count')} tries; enqueued again"
                report.poison.append(line)
                log.error("poison message: %s", line, extra={"image": image})
        except GatewayError as exc:
            report.errors.append(Note(failure("", exc).kind, "", f"reading the poison queue failed: {exc}"))
        messages = [{"image": t.image.id, "sweep": iso(report.at)} for t in targets]
        try:
            self.rt.fanout().send(messages)
        except GatewayError as exc:
            report.errors.append(failure_of_text(exc))
            return
        report.enqueued.extend(t.image.id for t in targets)

    def run_images(self, ctx: RunContext, targets: list[Target], trigger: Trigger) -> list[ImageResult]:
        """Every target's unit; subscriptions side by side, up to `image_concurrency` images at once in
        each. Results come back in target order, so the report (and the events it publishes) are those of
        a sequential run."""
        width = self.rt.settings.image_concurrency
        if trigger.source == "sweep":
            # A sweep lists every image in scope: once each has passed its new-build lane, the headroom
            # kept for new builds goes to bulk work (see WriteBudget.expect_new_builds).
            for target in targets:
                ctx.budget.expect_new_builds(target.image.subscription, [target.image.id])
        if width <= 1 or len(targets) <= 1:
            return [reconcile_image(ctx, t, trigger, i) for i, t in enumerate(targets)]
        by_subscription: dict[str, list[int]] = {}
        for i, target in enumerate(targets):
            by_subscription.setdefault(target.image.subscription.lower(), []).append(i)
        results: list[ImageResult | None] = [None] * len(targets)

        def one(i: int) -> None:
            results[i] = reconcile_image(ctx, targets[i], trigger, i)

        def subscription(indexes: list[int]) -> None:
            with ThreadPoolExecutor(max_workers=min(width, len(indexes))) as pool:
                # Each task runs in a copy of this context: the SDK hook finds the run's write budget.
                for future in [pool.submit(contextvars.copy_context().run, one, i) for i in indexes]:
                    future.result()

        with ThreadPoolExecutor(max_workers=len(by_subscription)) as pool:
            futures = [
                pool.submit(contextvars.copy_context().run, subscription, indexes)
                for indexes in by_subscription.values()
            ]
            for future in futures:
                future.result()
        return [r for r in results if r is not None]

    def _policy(self, now: datetime, report: RunReport) -> PolicyStatus:
        status = load_policy(policy_source(self.rt.settings), self.rt.store, now, remember=not self.plan_only)
        report.policy_problem = status.problem
        if status.newly_rejected is not None:
            report.notifications.append(status.newly_rejected)
            record = AuditRecord.policy_rejected(report.trigger, status.newly_rejected, now)
            append_audit(self.rt.store, [record], now.date())
        return status

    def targets(self, policy: Policy, trigger: Trigger, report: RunReport) -> Iterable[Target]:
        """The image definitions in the trigger's scope that the policy covers, in listing order."""
        scope: GalleryRef | ImageRef | VersionRef | None = None
        if trigger.scope:
            try:
                scope = parse_resource_id(trigger.scope)
            except InvalidResourceId as exc:
                report.errors.append(Note(Kind.PERMANENT, "", str(exc)))
                return
        if isinstance(scope, VersionRef):
            scope = scope.image_ref
        if isinstance(scope, ImageRef):
            image_policy = policy.for_image(scope)
            if image_policy is None:
                report.skipped.append(Note(Kind.OUT_OF_SCOPE, scope.id, "not in the policy's scope"))
                return
            found = self.rt.gallery.get_image(scope)
            if found is None:
                report.skipped.append(Note(Kind.NOT_FOUND, scope.id, "image definition not found"))
                return
            yield Target(image_policy, scope, found[0], found[1])
            return
        for gallery in policy.galleries:
            ref = gallery.ref
            if isinstance(scope, GalleryRef) and scope.key() != ref.key():
                continue
            try:
                images = self.rt.gallery.list_images(ref)
            except GatewayError as exc:
                # One gallery out of reach must not stop the others.
                report.errors.append(failure(ref.id, exc))
                continue
            for image, location, tags in images:
                image_policy = policy.for_image(image)
                if image_policy is not None:
                    yield Target(image_policy, image, location, tags)
        if isinstance(scope, GalleryRef) and policy.gallery(scope) is None:
            report.skipped.append(Note(Kind.OUT_OF_SCOPE, scope.id, "not in the policy's scope"))

    def _publish(self, notifications: list[Notification], report: RunReport) -> None:
        """Deliver the run's own events (ConfigRejected) through the run outbox (`outbox/run.json` in the
        state container): recorded first, sent, then dropped; what the topic refuses is sent again by a
        later run under the same id, like an image's events."""
        if self.plan_only:
            return
        try:
            saved, etag = self.rt.store.read_json(RUN_OUTBOX)
            entries = [ob.OutboxEntry.from_json(e) for e in (saved or {}).get("outbox", [])]
            recorded = iso(self.at or self.rt.clock())
            new = [ob.for_observation(n, etag=None, recorded=recorded) for n in notifications]
            merged = ob.merge(entries, new)
            if len(merged) != len(entries):
                etag = self.rt.store.write_json(RUN_OUTBOX, _outbox_document(merged), etag=etag)
        except GatewayError as exc:
            # Without its record the event can still go out now; it is only not kept for a retry.
            log.warning("run outbox unavailable", extra={"error": str(exc)})
            merged, etag = [ob.for_observation(n, etag=None) for n in notifications], None
        if not merged:
            return

        def rewrite(rest: list[ob.OutboxEntry]) -> None:
            self.rt.store.write_json(RUN_OUTBOX, _outbox_document(rest), etag=etag)

        deliver_and_drop(
            self.rt.publisher,
            self.rt.store,
            merged,
            now=self.at or self.rt.clock(),
            settings=self.rt.settings,
            what="run",
            into=report,
            rewrite=rewrite if etag is not None else None,
        )


RUN_OUTBOX = "outbox/run.json"


def _outbox_document(entries: list[ob.OutboxEntry]) -> dict[str, Any]:
    return {"outbox": [e.to_json() for e in entries]}


# Bounds the walk down a family tree (a base-image cycle written by hand must not loop).
MAX_GENERATIONS = 20


def _revoked(report: RunReport, version: VersionRef) -> set[str]:
    """What the run revoked, plus the requested version when it already was (a repeated `revoke` still
    walks the tree, so descendants missed before are caught)."""
    found: set[str] = set()
    for plan in report.plans:
        found |= revoked_by(plan.actions)
        if plan.image.key() == version.image_ref.key() and any(
            v.version == version.name and v.state == lt.STATE_REVOKED for v in plan.versions
        ):
            found.add(version.key())
    return found


def _budget_report(ctx: RunContext, targets: list[Target]) -> dict[str, Any]:
    """What each subscription's Compute write budget had left when the run ended (None: no answer said)."""
    subscriptions = sorted({t.image.subscription.lower() for t in targets})
    return {
        "throttled": ctx.budget.throttled,
        "deferred_writes": ctx.budget.deferred,
        "paced_seconds": round(ctx.budget.paced, 1),  # summed over writes waiting for ARM's bucket
        "deletes_claimed": ctx.deletes_claimed,  # from the deployment's delete allowance of this interval
        "remaining": {
            sub: {op: ctx.budget.remaining(sub, op) for op in (UPDATE_VERSION, DELETE_VERSION)}
            for sub in subscriptions
        },
        # Compute counts per subscription and region: what each region had left.
        "by_region": {
            sub: {
                region: {op: ctx.budget.remaining(sub, op, region) for op in (UPDATE_VERSION, DELETE_VERSION)}
                for region in ctx.budget.regions(sub)
                if region
            }
            for sub in subscriptions
        },
    }


def _no_deletes(trigger: Trigger) -> str | None:
    """Deletes are retirement work: runs answering an event (a build, a version write, an approval, a
    policy change) leave them to the sweep and its messages."""
    if trigger.source in ("event", "policy"):
        return "deletes are left to the sweep (not done in an event's run)"
    return None


def _deletes_paused(status: PolicyStatus) -> str | None:
    """Why deletes pause while the policy document is not the one in force."""
    if not status.problem:
        return None
    why = "cannot be read" if status.unreadable else "rejected"
    return f"policy {why}: deletes paused until a valid policy is in force"


def _no_policy(status: PolicyStatus) -> Note:
    """The run's error when no valid policy has ever been accepted: a document that cannot be read may
    be read next time; one that was rejected needs a person."""
    kind = Kind.TEMPORARY if status.unreadable else Kind.PERMANENT
    return Note(kind, "", status.problem or "no valid policy has been accepted yet")


def failure_of_text(exc: GatewayError) -> Note:
    """A gateway error whose text names its resource first (`"/subscriptions/...: why"`)."""
    return from_text(failure("", exc).kind, str(exc))


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
