"""One image's reconcile, as named steps: read, plan, claim, execute, remember, audit.

`reconcile_image` runs them in order under the image's lease. Each step is a small function of what the
previous ones produced; none knows which trigger (sweep, event, queue message, CLI) asked for the work.
Notifications are collected in the ImageResult; the run publishes them once at its end.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from lifecycle.actions import VERSION_UPDATES, Action, ActionKind
from lifecycle.executor import FAILED, Executor, Outcome, notifications_of
from lifecycle.gateways.errors import GatewayError, PreconditionFailed, RetryableError
from lifecycle.gateways.storage import StateStore, _safe
from lifecycle.model import ImageRef, ObservedImage, iso, parse_version_id
from lifecycle.planning import ImagePlan, needs_replication_status, plan_image
from lifecycle.planning.rebake import RunObservation
from lifecycle.planning.retention import deletes_possible
from lifecycle.reconcile.report import ImageResult, Trigger
from lifecycle.reconcile.runtime import RunContext, Target
from lifecycle.state import ImageState, PendingBuild, RebakeState

log = logging.getLogger(__name__)


def image_state_name(image: ImageRef) -> str:
    return f"images/{_safe(image.key())}.json"


@dataclass(frozen=True)
class Read:
    """What the read step found: the remembered state (with its ETag) and the image as ARM has it."""

    saved: dict[str, Any] | None
    etag: str | None
    state: ImageState
    observed: ObservedImage


@dataclass(frozen=True)
class Claim:
    """The actions left to run after the claim, and the rebake memory of a run that won it instead."""

    actions: list[Action]
    etag: str | None
    saved: dict[str, Any] | None
    claimed_elsewhere: RebakeState | None = None


def reconcile_image(ctx: RunContext, target: Target, trigger: Trigger) -> ImageResult:
    """Run one image's unit. A gateway error stops it: a retryable one is recorded as skipped (the next
    run picks the image up), any other as an error; what the steps recorded before is kept."""
    result = ImageResult(image_id=target.image.id)
    try:
        run_image(ctx, target, trigger, result)
    except RetryableError as exc:
        result.skipped.append(f"{target.image.id}: {exc}")
    except GatewayError as exc:
        result.errors.append(f"{target.image.id}: {exc}")
    return result


def run_image(ctx: RunContext, target: Target, trigger: Trigger, result: ImageResult) -> None:
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
        found = read(ctx, target, trigger)
        plan = plan_step(ctx, target, found)
        claim = claim_step(ctx, target, found, plan, dry_run=dry_run, result=result)
        outcomes = execute(ctx, claim.actions, found.observed, dry_run=dry_run)
        remember(ctx, target, found, plan, claim, outcomes, dry_run=dry_run, result=result)
    result.plan = replace(plan, actions=tuple(claim.actions))
    result.outcomes.extend(outcomes)
    if not dry_run:
        result.notifications.extend(notifications_of(outcomes))
        result.notifications.extend(plan.notifications)
    if not ctx.plan_only:
        audit(ctx, [audit_record(o, trigger, ctx) for o in outcomes])
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


def plan_step(ctx: RunContext, target: Target, found: Read) -> ImagePlan:
    """Plan with the pure planner; the run-wide reads it may need are made (once) only if a delete is
    possible at all."""
    image_policy = target.image_policy
    lifetimes = {k: b.lifetime_days for k, b in found.state.pending_builds.items() if b.lifetime_days}
    usage = None
    soft_delete = None
    if ctx.deletes_blocked is None and deletes_possible(
        image_policy.retention, found.observed, ctx.now, lifetimes
    ):
        usage = ctx.usage()
        soft_delete = ctx.soft_delete(target.image.gallery_ref)
    plan = plan_image(
        image_policy,
        found.observed,
        ctx.now,
        state=found.state,
        usage=usage,
        delete_budget=ctx.delete_budget(image_policy),
        deletes_blocked=ctx.deletes_blocked,
        run=rebake_run(ctx, target),
        soft_delete=soft_delete,
    )
    ctx.spend_deletes(plan.deletes)
    return plan


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
        return Claim(actions=actions, etag=claimed, saved=found.saved)
    except PreconditionFailed:
        result.skipped.append(f"{target.image.id}: rebake already triggered by another run")
        # Standing down is not a failure: the winner's rebake memory is kept, and the rest of this plan
        # is written over the document the winner left.
        saved, etag = ctx.rt.store.read_json(name)
        return Claim(
            actions=[a for a in actions if a.kind is not ActionKind.REBAKE],
            etag=etag,
            saved=saved,
            claimed_elsewhere=ImageState.from_json(saved).rebake,
        )


def execute(
    ctx: RunContext, actions: list[Action], observed: ObservedImage, *, dry_run: bool
) -> list[Outcome]:
    executor = Executor(ctx.rt.gallery, ctx.rt.imagebuilder, ctx.rt.publisher, dry_run=dry_run)
    return executor.execute(actions, observed)


def remember(
    ctx: RunContext,
    target: Target,
    found: Read,
    plan: ImagePlan,
    claim: Claim,
    outcomes: list[Outcome],
    *,
    dry_run: bool,
    result: ImageResult,
) -> None:
    """Write the image's state back (only when it changed), over the ETag this run read or claimed."""
    new_state = state_after(plan, outcomes, before=found.state)
    if claim.claimed_elsewhere is not None:
        new_state = replace(new_state, rebake=claim.claimed_elsewhere)
    if ctx.plan_only or new_state.to_json() == (claim.saved or ImageState().to_json()):
        return
    if dry_run:
        # Nothing was written nor published: healing counts only real attempts.
        new_state = replace(new_state, rebake=found.state.rebake, healing=found.state.healing)
    try:
        ctx.rt.store.write_json(image_state_name(target.image), new_state.to_json(), etag=claim.etag)
    except PreconditionFailed:
        result.errors.append(f"{target.image.id}: state changed by another run; it will be re-read next time")


def state_after(plan: ImagePlan, outcomes: list[Outcome], *, before: ImageState) -> ImageState:
    state = plan.state
    for outcome in outcomes:
        if outcome.action.kind in VERSION_UPDATES and outcome.status == FAILED:
            # The update did not happen: a failed region's healing did not advance either.
            name = parse_version_id(outcome.action.target).name
            healing = dict(state.healing)
            if name in before.healing:
                healing[name] = before.healing[name]
            else:
                healing.pop(name, None)
            state = replace(state, healing=healing)
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


def rebake_run(ctx: RunContext, target: Target) -> RunObservation | None:
    template = target.image_policy.rebake.image_template
    if not template or ctx.rt.imagebuilder is None:
        return None
    if not (target.image_policy.rebake.schedule or target.image_policy.rebake.max_age_days):
        return None
    try:
        run: RunObservation | None = ctx.rt.imagebuilder.last_run(template)
        return run
    except GatewayError as exc:
        log.warning(
            "could not read the image template's last run",
            extra={"template": template, "error": str(exc)},
        )
        ctx.problem(template, "reading the image template failed, no rebake is decided", str(exc))
        return RunObservation(state="Unknown", message=str(exc))


def audit(ctx: RunContext, records: list[dict[str, Any]]) -> None:
    append_audit(ctx.rt.store, records, ctx.now.date())


def append_audit(store: StateStore, records: list[dict[str, Any]], day: date) -> None:
    """Append audit records; a failed append is logged, never undoes the writes already made."""
    if not records:
        return
    try:
        store.append_audit(records, day=day)
    except GatewayError as exc:
        log.error("audit log append failed", extra={"error": str(exc), "records": len(records)})


def audit_record(outcome: Outcome, trigger: Trigger, ctx: RunContext) -> dict[str, Any]:
    record = outcome.action.to_json()
    return {
        "time": iso(ctx.now),
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
