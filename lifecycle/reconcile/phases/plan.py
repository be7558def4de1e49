"""The plan phase: the pure planner over what was read and observed, with the run-wide delete allowance
spent in the run's target order (`RunContext.plan_turn`) and claimed across instances before any delete."""

from __future__ import annotations

from lifecycle.planning import ImagePlan, gates, plan_image
from lifecycle.planning.retention import deletes_possible
from lifecycle.reconcile.phases import observations
from lifecycle.reconcile.phases.unit import ImageUnit


def plan(unit: ImageUnit) -> None:
    """Plan with the pure planner; the run-wide reads it may need are made (once) only if a delete is
    possible at all. Only then does the image wait for its planning turn (`unit.index`): the run-wide delete
    allowance is spent in listing order, as a sequential run would. An image that cannot delete spends none
    of it and plans at once, so images waiting for a free slot do not hold up the others' planning."""
    ctx, found, image_policy = unit.ctx, unit.found, unit.target.image_policy
    # What the plan is made from, for the cost of the plan and the fleet report.
    unit.result.image_policy, unit.result.observed = image_policy, found.observed
    lifetimes = {k: b.lifetime_days for k, b in found.state.pending_builds.items() if b.lifetime_days}
    usage = None
    soft_delete = None
    revoked_bases = ctx.bases.revoked_bases(found.observed.versions)
    revoked = gates.revoked_names(image_policy, found.observed.versions, found.state, revoked_bases)
    deletes_blocked = ctx.deletes_blocked
    newest_deprecation, eol_caps = observations.base_deprecation(unit)
    possible = deletes_blocked is None and deletes_possible(
        image_policy.retention, found.observed, ctx.now, lifetimes, revoked, eol_caps
    )
    if not possible:
        ctx.pass_turn(unit.index)
    with ctx.plan_turn(unit.index if possible else None):
        if possible:
            # Only once a delete is possible: is the gallery shared where its consumers cannot be seen?
            deletes_blocked = ctx.shared_block(unit.image.gallery_ref)
            if deletes_blocked is None:
                usage = ctx.usage()
                soft_delete = ctx.soft_delete(unit.image.gallery_ref)
        run, base = observations.rebake_run(unit), observations.base_update(unit)
        sized = usage if usage is not None else observations.sizing_usage(unit)
        running = observations.consumers(unit)

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

        planned = plan_with(ctx.delete_budget(image_policy) if possible else 0)
        if planned.deletes and not (ctx.plan_only or image_policy.dry_run):
            # The deployment's allowance for this sweep interval, claimed before any delete is made.
            granted = ctx.claim_deletes(planned.deletes, image_policy)
            if granted < planned.deletes:
                planned = plan_with(granted)
        ctx.spend_deletes(planned.deletes)
    unit.plan = planned
