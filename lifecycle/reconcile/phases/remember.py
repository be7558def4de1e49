"""The remember phase: the image's state after this run's writes (`planning.after_writes`), with its outbox
settled, written back over the ETag this run read or claimed, and only when it changed."""

from __future__ import annotations

from dataclasses import replace

from lifecycle import outbox as ob
from lifecycle.executor import DEFERRED, FAILED, SUCCEEDED
from lifecycle.gateways.errors import PreconditionFailed
from lifecycle.model import iso
from lifecycle.planning.after_writes import state_after
from lifecycle.reconcile.notes import Kind, Note
from lifecycle.reconcile.phases.outbox_steps import etag_of
from lifecycle.reconcile.phases.unit import ImageUnit
from lifecycle.state import ImageState


def remember(unit: ImageUnit) -> None:
    """Write the image's state back (only when it changed), over the ETag this run read or claimed, with
    the outbox settled: events of succeeded writes and of observations to send, those of failed writes
    dropped. Sets the state and its ETag as now stored (`unit.stored`, `unit.etag`: None when another run
    changed the state first)."""
    ctx, found, plan, claim, outcomes = unit.ctx, unit.found, unit.plan, unit.claim, unit.outcomes
    new_state = state_after(plan, outcomes, before=found.state)
    if claim.claimed_elsewhere is not None:
        new_state = replace(new_state, rebake=claim.claimed_elsewhere)
    if not unit.dry_run:
        settled = ob.settle(
            unit.entries,
            (o.action.key for o in outcomes if o.status == SUCCEEDED),
            # A deferred write did not run: its event is dropped like a failed one's; the next run plans
            # the write again with a new intent.
            (o.action.key for o in outcomes if o.status in (FAILED, DEFERRED)),
        )
        recorded = iso(ctx.now)
        observed = [
            ob.for_observation(n, etag=etag_of(found.observed, n.subject), recorded=recorded)
            for n in plan.notifications
        ]
        new_state = replace(new_state, outbox=tuple(ob.merge(settled, observed)))
    if ctx.plan_only or new_state.to_json() == (claim.saved or ImageState().to_json()):
        unit.stored, unit.etag = new_state, claim.etag
        return
    if unit.dry_run:
        # Nothing was written nor published: healing counts only real attempts; and no wake-up was sent,
        # so none is remembered (an enforcing run within the wait must schedule it).
        new_state = replace(
            new_state,
            rebake=found.state.rebake,
            healing=found.state.healing,
            recheck_at=found.state.recheck_at,
            warned=found.state.warned,
        )
    unit.stored = new_state
    try:
        unit.etag = ctx.rt.store.write_json(unit.state_name, new_state.to_json(), etag=claim.etag)
    except PreconditionFailed:
        unit.result.errors.append(
            Note(Kind.CONTENDED, unit.image.id, "state changed by another run; it will be re-read next time")
        )
        unit.etag = None
