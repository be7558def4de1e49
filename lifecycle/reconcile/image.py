"""One image's reconcile, as named steps: read, plan, claim, record, execute, remember, deliver, wake,
audit.

`reconcile_image` runs them in order under the image's lease. Each step is a small function of what the
previous ones produced; none knows which trigger (sweep, event, queue message, CLI) asked for the work.
Lifecycle events go through the image's outbox (`lifecycle.outbox`): recorded in the image's state before
the write they announce (record), settled with its outcome (remember), sent and then dropped from the
outbox (deliver); what a run cannot send, a later run sends. The ImageResult lists them for the report.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from lifecycle import outbox as ob
from lifecycle import tags as lt
from lifecycle.actions import Action, ActionKind, announced_by_executor
from lifecycle.executor import DEFERRED, FAILED, SUCCEEDED, Executor, Outcome, notifications_of
from lifecycle.gateways.errors import GatewayError, PreconditionFailed, RetryableError
from lifecycle.gateways.storage import safe_blob_name
from lifecycle.model import (
    ImageDeprecation,
    ImageRef,
    ImageUsage,
    InvalidResourceId,
    ObservedImage,
    ObservedVersion,
    SoftDeleted,
    VersionRef,
    iso,
    parse_version_id,
)
from lifecycle.outbox import OutboxEntry
from lifecycle.planning import ImagePlan, deprecation, gates, needs_replication_status, plan_image
from lifecycle.planning.after_writes import state_after
from lifecycle.planning.consumers import Consumer, by_version_name, expiring_soon
from lifecycle.planning.lineage import BaseObservation, base_of
from lifecycle.planning.rebake import RunObservation, newest_healthy
from lifecycle.planning.retention import deletes_possible
from lifecycle.reconcile.audit import AuditRecord, append_audit, wall_clock
from lifecycle.reconcile.delivery import deliver_and_drop
from lifecycle.reconcile.notes import Kind, Note, failure
from lifecycle.reconcile.report import GateRequest, ImageResult, Trigger
from lifecycle.reconcile.revocation import revoked_by
from lifecycle.reconcile.runtime import RunContext, Target
from lifecycle.state import GateRecord, ImageState, PendingBuild, RebakeState

log = logging.getLogger(__name__)


def image_state_name(image: ImageRef) -> str:
    return f"images/{safe_blob_name(image.key())}.json"


@dataclass(frozen=True)
class Read:
    """What the read step found: the remembered state (with its ETag) and the image as ARM has it."""

    saved: dict[str, Any] | None
    etag: str | None
    state: ImageState
    observed: ObservedImage


@dataclass(frozen=True)
class Claim:
    """The actions left to run after the claim, and the rebake memory of a run that won it instead.
    `written` is the state the claim (or the record step) wrote, if any."""

    actions: list[Action]
    etag: str | None
    saved: dict[str, Any] | None
    claimed_elsewhere: RebakeState | None = None
    written: ImageState | None = None


def reconcile_image(
    ctx: RunContext, target: Target, trigger: Trigger, index: int | None = None
) -> ImageResult:
    """Run one image's unit (`index`: its place among the run's targets, for planning in turn). A
    gateway error stops it: a retryable one is recorded as skipped (the next run picks the image up), any
    other as an error; what the steps recorded before is kept. An image that cannot finish within the
    invocation's time budget is not started: it is deferred whole."""
    result = ImageResult(image_id=target.image.id)
    try:
        why = ctx.image_may_start()
        if why is not None:
            result.deferred.append(Note(Kind.NOT_STARTED, target.image.id, f"not started: {why}"))
            return result
        run_image(ctx, target, trigger, result, index)
    except RetryableError as exc:
        result.skipped.append(failure(target.image.id, exc))
    except GatewayError as exc:
        result.errors.append(failure(target.image.id, exc))
    finally:
        ctx.pass_turn(index)
        # Stopped or finished: no new-build write of this image can come later in this run.
        ctx.budget.new_builds_done(target.image.subscription, target.image.id)
    return result


def run_image(
    ctx: RunContext, target: Target, trigger: Trigger, result: ImageResult, index: int | None = None
) -> None:
    """The unit: read, plan, claim, execute, remember, audit, filling `result` as it goes."""
    ref = target.image
    dry_run = ctx.plan_only or target.image_policy.dry_run
    # `plan` writes nothing, not even a lease; it only reads.
    lease = (
        contextlib.nullcontext()
        if ctx.plan_only
        else ctx.rt.store.lease(ref.key(), ctx.rt.settings.lease_seconds)
    )
    with lease:
        # The wall-clock interval this run held the image, in its audit records: two runs that held one
        # image at once would show as overlapping intervals (the storm test reads them back).
        held = {"run": uuid.uuid4().hex[:16], "from": wall_clock()}
        found = read(ctx, target, trigger)
        if trigger.gate is not None and trigger.gate.version.image_ref.key() == ref.key():
            refused = gate_refusal(ctx, target, found, trigger.gate)
            if refused is not None:
                # Nothing is written for a refused approval or revocation, and nothing else is done.
                result.refused.append(refused)
                if trigger.source != "cli":
                    append_audit(
                        ctx.rt.store, [AuditRecord.gate_refused(trigger, ctx.now, refused)], ctx.now.date()
                    )
                return
            found = replace(found, state=with_gate(found.state, trigger.gate, ctx))
        if found.state.gate_requests and not ctx.plan_only:
            found = take_requests(ctx, target, found, trigger, result)
        result.image_policy, result.observed = target.image_policy, found.observed
        plan = plan_step(ctx, target, found, index)
        claim = claim_step(ctx, target, found, plan, dry_run=dry_run, result=result)
        entries = outbox_before(ctx, found, plan, claim.actions, dry_run=dry_run)
        claim = record(ctx, target, found, claim, entries, result=result)
        outcomes = execute(ctx, claim.actions, found.observed, dry_run=dry_run, target=target)
        state, etag = remember(
            ctx, target, found, plan, claim, outcomes, entries, dry_run=dry_run, result=result
        )
        if not dry_run:
            deliver(ctx, target, state, etag, result)
            wake(ctx, target, trigger, before=found.state, after=state, stored=etag is not None)
        held["until"] = wall_clock()
    result.plan = replace(plan, actions=tuple(claim.actions), soft_deleted=soft_deleted_step(ctx, target))
    result.outcomes.extend(outcomes)
    # Children reconciled later in this run see a revocation made (or, in a plan, planned) just now.
    ctx.lineage.note_revoked(revoked_by(claim.actions, outcomes))
    if not dry_run:
        result.notifications.extend(notifications_of(outcomes))
        result.notifications.extend(plan.notifications)
    if not ctx.plan_only:
        records = [AuditRecord.of_outcome(o, trigger, ctx.now, lease=held) for o in outcomes]
        append_audit(ctx.rt.store, records, ctx.now.date())
    log.info(
        "image reconciled",
        extra={
            "image": ref.id,
            "actions": len(claim.actions),
            "failed": sum(o.status == FAILED for o in outcomes),
        },
    )


def read(ctx: RunContext, target: Target, trigger: Trigger) -> Read:
    """Read the image's remembered state, fold in the build the trigger carries, re-read ARM."""
    ref = target.image
    saved, etag = ctx.rt.store.read_json(image_state_name(ref))
    state = ImageState.from_json(saved)
    if trigger.build is not None and trigger.build.version.image_ref.key() == ref.key():
        meta = trigger.build.metadata
        state = state.with_build(
            trigger.build.version.name,
            PendingBuild(tags=meta.tags(), lifetime_days=meta.lifetime_days, received=ctx.now),
        )
    observed = ctx.rt.gallery.read_image(
        ref, target.location, target.tags, wants_status=lambda v: needs_replication_status(v, state)
    )
    return Read(saved=saved, etag=etag, state=state, observed=observed)


def plan_step(ctx: RunContext, target: Target, found: Read, index: int | None = None) -> ImagePlan:
    """Plan with the pure planner; the run-wide reads it may need are made (once) only if a delete is
    possible at all. Only then does the image wait for its planning turn (`index`): the run-wide delete
    allowance is spent in listing order, as a sequential run would. An image that cannot delete spends none
    of it and plans at once, so images waiting for a free slot do not hold up the others' planning."""
    image_policy = target.image_policy
    lifetimes = {k: b.lifetime_days for k, b in found.state.pending_builds.items() if b.lifetime_days}
    usage = None
    soft_delete = None
    revoked_bases = ctx.lineage.revoked_bases(found.observed.versions)
    revoked = gates.revoked_names(image_policy, found.observed.versions, found.state, revoked_bases)
    deletes_blocked = ctx.deletes_blocked
    newest_deprecation, eol_caps = deprecation_step(ctx, target, found)
    possible = deletes_blocked is None and deletes_possible(
        image_policy.retention, found.observed, ctx.now, lifetimes, revoked, eol_caps
    )
    if not possible:
        ctx.pass_turn(index)
    with ctx.plan_turn(index if possible else None):
        if possible:
            # Only once a delete is possible: is the gallery shared where its consumers cannot be seen?
            deletes_blocked = ctx.shared_block(target.image.gallery_ref)
            if deletes_blocked is None:
                usage = ctx.usage()
                soft_delete = ctx.soft_delete(target.image.gallery_ref)
        run, base = rebake_run(ctx, target), base_step(ctx, target, found)
        sized = usage if usage is not None else sizing_usage(ctx, target)
        running = consumers_step(ctx, target, found)

        def plan_with(budget: int) -> ImagePlan:
            return plan_image(
                image_policy,
                found.observed,
                ctx.now,
                state=found.state,
                usage=sized,
                delete_budget=budget,
                deletes_blocked=deletes_blocked,
                run=run,
                soft_delete=soft_delete,
                revoked_bases=revoked_bases,
                base=base,
                deprecation=newest_deprecation,
                eol_caps=eol_caps,
                warn_days=ctx.policy.consumers.warn_days,
                consumers=running,
            )

        plan = plan_with(ctx.delete_budget(image_policy) if possible else 0)
        if plan.deletes and not (ctx.plan_only or image_policy.dry_run):
            # The deployment's allowance for this sweep interval, claimed before any delete is made.
            granted = ctx.claim_deletes(plan.deletes, image_policy)
            if granted < plan.deletes:
                plan = plan_with(granted)
        ctx.spend_deletes(plan.deletes)
    return plan


def soft_deleted_step(ctx: RunContext, target: Target) -> tuple[SoftDeleted, ...]:
    """The image's soft-deleted versions and when Azure purges them, in a gallery with soft delete on (one
    list per image per run); a failed list is an error of the run, and the plan goes on without it."""
    soft = ctx.soft_delete(target.image.gallery_ref)
    if soft is None or not soft.enabled:
        return ()
    try:
        return tuple(ctx.rt.gallery.soft_deleted_versions(target.image))
    except GatewayError as exc:
        ctx.problem(target.image.id, "listing soft-deleted versions failed", exc)
        return ()


def sizing_usage(ctx: RunContext, target: Target) -> ImageUsage | None:
    """For `replication.older` and `auto` counts: who runs what where. In a gallery shared beyond its
    subscription (consumers elsewhere cannot be listed) it counts as unknown: no region is shrunk away."""
    replication = target.image_policy.replication
    if replication.older is None and "auto" not in replication.regions.values():
        return None
    block = ctx.shared_block(target.image.gallery_ref)
    if block is not None:
        return ImageUsage(complete=False, problem=block)
    return ctx.usage()


def consumers_step(ctx: RunContext, target: Target, found: Read) -> dict[str, tuple[Consumer, ...]] | None:
    """For `consumers.warn_days`: who runs this image's versions, by version name; read (once per run, from
    the sweep's inventory) only when a version's end-of-life is within the window. An incomplete inventory
    warns nobody this run (the next one will)."""
    warn_days = ctx.policy.consumers.warn_days
    if not expiring_soon(found.observed, ctx.now, warn_days):
        return None
    found_consumers = ctx.consumers()
    if found_consumers is None:
        return None
    return by_version_name(found_consumers, target.image)


def base_step(ctx: RunContext, target: Target, found: Read) -> BaseObservation | None:
    """For `rebake.on_base_update`: the newest version's base and whether it moved on (one list call per
    distinct base per run)."""
    if not target.image_policy.rebake.on_base_update:
        return None
    newest = newest_healthy(found.observed)
    value = base_of(newest) if newest is not None else None
    if newest is None or value is None:
        return None
    return ctx.lineage.base_update(target.image.subscription, newest, value)


def deprecation_step(
    ctx: RunContext, target: Target, found: Read
) -> tuple[ImageDeprecation | None, dict[str, tuple[datetime, str]]]:
    """For `rebake.on_base_deprecation` and `retention.cap_at_base_deprecation`: the deprecation status of
    the Marketplace bases of the image's versions (one GET per distinct base per run): the newest healthy
    version's, and per version the end-of-life its base allows."""
    policy = target.image_policy
    if not (policy.rebake.on_base_deprecation or policy.retention.cap_at_base_deprecation):
        return None, {}
    newest = newest_healthy(found.observed)
    wanted = list(found.observed.versions) if policy.retention.cap_at_base_deprecation else []
    if policy.rebake.on_base_deprecation and newest is not None:
        wanted.append(newest)
    statuses: dict[str, ImageDeprecation] = {}
    for version in wanted:
        base = deprecation.marketplace_base(base_of(version))
        if base is None or base.urn.lower() in statuses:
            continue
        status = ctx.lineage.deprecation(target.image.subscription, version.location, base)
        if not isinstance(status, str):
            statuses[base.urn.lower()] = status
    newest_base = deprecation.marketplace_base(base_of(newest)) if newest is not None else None
    current = statuses.get(newest_base.urn.lower()) if newest_base is not None else None
    caps = deprecation.caps(found.observed, statuses) if policy.retention.cap_at_base_deprecation else {}
    return current, caps


def gate_refusal(ctx: RunContext, target: Target, found: Read, request: GateRequest) -> Note | None:
    """Why an approval or revocation cannot be taken, naming the version; None when it can."""
    version_id = request.version.id
    version = found.observed.version(request.version.name)
    if version is None:
        return Note(Kind.REFUSED, version_id, "no such version (unknown)")
    # The planner's own view of the version: expired, revoked, failed or being deleted.
    view = plan_image(target.image_policy, found.observed, ctx.now, state=found.state)
    state = next((r.state for r in view.versions if r.version == version.name), None)
    if request.kind == "approve":
        if state in (lt.STATE_EXPIRED, lt.STATE_REVOKED, "failed", "deleting"):
            why = f"is {state}: it cannot be approved"
            return Note(Kind.REFUSED, version_id, why, text=f"{version_id} {why}")
        return None
    if state in ("failed", "deleting"):
        why = f"is {state}: there is nothing to revoke"
        return Note(Kind.REFUSED, version_id, why, text=f"{version_id} {why}")
    return None


def take_requests(
    ctx: RunContext, target: Target, found: Read, trigger: Trigger, result: ImageResult
) -> Read:
    """Approvals and revocations events delivered while the queue runs the work (recorded by
    `intake.record` after their trust check): each is judged and applied here as an inline event's is,
    a refused one audited; none is left behind (the state this run writes drops them)."""
    state = replace(found.state, gate_requests=())
    for requested in found.state.gate_requests:
        request = GateRequest(
            requested.kind,
            VersionRef(target.image, requested.version),
            by=requested.by,
            reason=requested.reason,
            source=requested.source,
        )
        refused = gate_refusal(ctx, target, replace(found, state=state), request)
        if refused is not None:
            result.refused.append(refused)
            event = Trigger("event", scope=request.version.id, event_id=requested.event_id, gate=request)
            append_audit(ctx.rt.store, [AuditRecord.gate_refused(event, ctx.now, refused)], ctx.now.date())
            continue
        state = with_gate(state, request, ctx)
    return replace(found, state=state)


def with_gate(state: ImageState, request: GateRequest, ctx: RunContext) -> ImageState:
    record = GateRecord(by=request.by, reason=request.reason, source=request.source, at=ctx.now)
    if request.kind == "approve":
        return state.with_approval(request.version.name, record)
    return state.with_revocation(request.version.name, record)


def claim_step(
    ctx: RunContext, target: Target, found: Read, plan: ImagePlan, *, dry_run: bool, result: ImageResult
) -> Claim:
    """Claim the rebake before starting it: of two instances, only one ETag write wins."""
    actions = list(plan.actions)
    if dry_run or not any(a.kind is ActionKind.REBAKE for a in actions):
        return Claim(actions=actions, etag=found.etag, saved=found.saved)
    name = image_state_name(target.image)
    try:
        claimed = ctx.rt.store.write_json(name, plan.state.to_json(), etag=found.etag)
        return Claim(actions=actions, etag=claimed, saved=plan.state.to_json(), written=plan.state)
    except PreconditionFailed:
        result.skipped.append(
            Note(Kind.CONTENDED, target.image.id, "rebake already triggered by another run")
        )
        # Standing down is not a failure: the winner's rebake memory is kept, and the rest of this plan
        # is written over the document the winner left.
        saved, etag = ctx.rt.store.read_json(name)
        return Claim(
            actions=[a for a in actions if a.kind is not ActionKind.REBAKE],
            etag=etag,
            saved=saved,
            claimed_elsewhere=ImageState.from_json(saved).rebake,
        )


def outbox_before(
    ctx: RunContext, found: Read, plan: ImagePlan, actions: list[Action], *, dry_run: bool
) -> list[OutboxEntry]:
    """The outbox before the writes: what earlier runs left (their intents resolved against this plan),
    plus an intent for each event an action of this run announces. Dry runs announce nothing."""
    if dry_run:
        return list(found.state.outbox)
    entries = ob.resolve_intents(found.state.outbox, (a.key for a in plan.actions))
    recorded = iso(ctx.now)
    intents = []
    for action in actions:
        if announced_by_executor(action):
            continue
        version = _observed_version(found.observed, action.target)
        for notification in action.notifications:
            etag = version.etag if version is not None else None
            intents.append(ob.for_action(action.key, notification, etag=etag, recorded=recorded))
    return ob.merge(entries, intents)


def _observed_version(observed: ObservedImage, target: str) -> ObservedVersion | None:
    try:
        return observed.version(parse_version_id(target).name)
    except InvalidResourceId:
        return None


def record(
    ctx: RunContext,
    target: Target,
    found: Read,
    claim: Claim,
    entries: list[OutboxEntry],
    *,
    result: ImageResult,
) -> Claim:
    """Record this run's intents in the image's state before any write starts, so that no event for a
    write can be lost, whatever happens to the run. Without new intents nothing is written."""
    known = {e.id for e in found.state.outbox}
    if ctx.plan_only or not any(e.status == ob.INTENT and e.id not in known for e in entries):
        return claim
    base = claim.written or found.state
    if claim.claimed_elsewhere is not None:
        base = replace(base, rebake=claim.claimed_elsewhere)
    document = replace(base, outbox=tuple(entries))
    try:
        etag = ctx.rt.store.write_json(image_state_name(target.image), document.to_json(), etag=claim.etag)
    except PreconditionFailed:
        result.skipped.append(
            Note(
                Kind.CONTENDED,
                target.image.id,
                "state changed by another run; its writes are left to the next run",
            )
        )
        return replace(claim, actions=[])
    return replace(claim, etag=etag, saved=document.to_json(), written=document)


def execute(
    ctx: RunContext, actions: list[Action], observed: ObservedImage, *, dry_run: bool, target: Target
) -> list[Outcome]:
    image = target.image
    executor = Executor(
        ctx.rt.gallery,
        ctx.rt.imagebuilder,
        ctx.rt.publisher,
        dry_run=dry_run,
        may_write=ctx.may_write,
        new_builds_done=lambda: ctx.budget.new_builds_done(image.subscription, image.id),
    )
    return executor.execute(actions, observed)


def remember(
    ctx: RunContext,
    target: Target,
    found: Read,
    plan: ImagePlan,
    claim: Claim,
    outcomes: list[Outcome],
    entries: list[OutboxEntry],
    *,
    dry_run: bool,
    result: ImageResult,
) -> tuple[ImageState, str | None]:
    """Write the image's state back (only when it changed), over the ETag this run read or claimed, with
    the outbox settled: events of succeeded writes and of observations to send, those of failed writes
    dropped. Returns the state and its ETag as now stored."""
    new_state = state_after(plan, outcomes, before=found.state)
    if claim.claimed_elsewhere is not None:
        new_state = replace(new_state, rebake=claim.claimed_elsewhere)
    if not dry_run:
        settled = ob.settle(
            entries,
            (o.action.key for o in outcomes if o.status == SUCCEEDED),
            # A deferred write did not run: its event is dropped like a failed one's; the next run plans
            # the write again with a new intent.
            (o.action.key for o in outcomes if o.status in (FAILED, DEFERRED)),
        )
        recorded = iso(ctx.now)
        observed = [
            ob.for_observation(n, etag=_etag_of(found.observed, n.subject), recorded=recorded)
            for n in plan.notifications
        ]
        new_state = replace(new_state, outbox=tuple(ob.merge(settled, observed)))
    if ctx.plan_only or new_state.to_json() == (claim.saved or ImageState().to_json()):
        return new_state, claim.etag
    if dry_run:
        # Nothing was written nor published: healing counts only real attempts; and no wake-up was sent,
        # so none is remembered (an enforcing run within the wait must schedule it).
        new_state = replace(
            new_state,
            rebake=found.state.rebake,
            healing=found.state.healing,
            recheck_at=found.state.recheck_at,
            warned=found.state.warned,
        )
    try:
        etag = ctx.rt.store.write_json(image_state_name(target.image), new_state.to_json(), etag=claim.etag)
    except PreconditionFailed:
        result.errors.append(
            Note(
                Kind.CONTENDED, target.image.id, "state changed by another run; it will be re-read next time"
            )
        )
        return new_state, None
    return new_state, etag


def _etag_of(observed: ObservedImage, subject: str) -> str | None:
    version = _observed_version(observed, subject)
    return version.etag if version is not None else None


def deliver(
    ctx: RunContext, target: Target, state: ImageState, etag: str | None, result: ImageResult
) -> None:
    """Send what the outbox holds unsent (this run's events and any an earlier run could not send), then
    drop what was sent or dead-lettered (see `delivery`). A topic that is down keeps them for the next run:
    noted in the report, never an error of this run (its writes are done; running it again would only repeat
    ARM work). Nothing is sent while the state could not be stored (etag None): unrecorded, a sent event
    could not be marked sent."""
    result.outbox_depth = len(ob.unsent(state.outbox))
    if ctx.plan_only or not state.outbox or etag is None:
        return

    def rewrite(rest: list[OutboxEntry]) -> None:
        remaining = replace(state, outbox=tuple(rest))
        ctx.rt.store.write_json(image_state_name(target.image), remaining.to_json(), etag=etag)

    rest = deliver_and_drop(
        ctx.rt.publisher,
        ctx.rt.store,
        state.outbox,
        now=ctx.now,
        settings=ctx.rt.settings,
        what=target.image.id,
        into=result,
        rewrite=rewrite,
    )
    result.outbox_depth = len(ob.unsent(rest))


# Azure Storage caps a message's visibility timeout at 7 days (Put Message, `visibilitytimeout`).
MAX_QUEUE_DELAY = 7 * 24 * 3600


def wake(
    ctx: RunContext,
    target: Target,
    trigger: Trigger,
    *,
    before: ImageState,
    after: ImageState,
    stored: bool,
) -> None:
    """A version that waits for its build event is written when the wait ends at the latest: one delayed
    message to the fan-out queue runs the image then. One message per deadline (the state remembers it);
    without a queue, or when sending fails, the next sweep does it instead. The message names its deadline,
    so the wake-up itself can tell it came early (the queue's clock ahead of ours) and schedule another."""
    when = after.recheck_at
    if when is None or ctx.rt.queue is None or not stored:
        return
    # The planner only waits while now < `when`: this run, if woken for `when`, came early.
    if when == before.recheck_at and trigger.wake != when:
        return  # already scheduled
    delay = min(MAX_QUEUE_DELAY, max(1, int((when - ctx.now).total_seconds()) + 1))
    try:
        ctx.rt.queue.send([{"image": target.image.id, "wake": iso(when)}], delay_seconds=delay)
    except GatewayError as exc:
        log.warning(
            "wake-up for %s not scheduled (the next sweep runs it): %s",
            target.image.id,
            exc,
            extra={"image": target.image.id, "recheck_at": iso(when)},
        )


def rebake_run(ctx: RunContext, target: Target) -> RunObservation | None:
    template = target.image_policy.rebake.image_template
    if not template or ctx.rt.imagebuilder is None:
        return None
    rebake = target.image_policy.rebake
    if not (rebake.schedule or rebake.max_age_days or rebake.on_base_update or rebake.on_base_deprecation):
        return None
    try:
        run: RunObservation | None = ctx.rt.imagebuilder.last_run(template)
        return run
    except GatewayError as exc:
        log.warning(
            "could not read the image template's last run",
            extra={"template": template, "error": str(exc)},
        )
        ctx.problem(template, "reading the image template failed, no rebake is decided", exc)
        return RunObservation(state="Unknown", message=str(exc))
