"""One image's reconcile: the order of its phases, the lease it holds while it writes, and what stops it.

`reconcile_image` runs the phases (`reconcile/phases/`) over one ImageUnit: read, take the gate requests,
plan, claim, record the outbox, execute, remember, deliver, wake; then, once the lease is let go, fill the
result and audit. Each phase is a function of the unit alone; none knows which trigger (sweep, event,
queue message, CLI) asked for the work.
"""

from __future__ import annotations

import contextlib
import logging
import uuid

from lifecycle.executor import FAILED
from lifecycle.gateways.errors import GatewayError, RetryableError
from lifecycle.reconcile.audit import wall_clock
from lifecycle.reconcile.notes import Kind, Note, failure
from lifecycle.reconcile.phases.claim import claim
from lifecycle.reconcile.phases.execute import execute
from lifecycle.reconcile.phases.finish import audit, fill_result
from lifecycle.reconcile.phases.gate_requests import take_gate, take_requests
from lifecycle.reconcile.phases.outbox_steps import deliver, outbox_before, record
from lifecycle.reconcile.phases.plan import plan
from lifecycle.reconcile.phases.read import read
from lifecycle.reconcile.phases.remember import remember
from lifecycle.reconcile.phases.unit import ImageUnit
from lifecycle.reconcile.phases.wakeups import wake
from lifecycle.reconcile.results import ImageResult
from lifecycle.reconcile.runtime import RunContext, Target
from lifecycle.reconcile.trigger import Trigger

log = logging.getLogger(__name__)


def reconcile_image(
    ctx: RunContext, target: Target, trigger: Trigger, index: int | None = None
) -> ImageResult:
    """Run one image's unit (`index`: its place among the run's targets, for planning in turn). A
    gateway error stops it: a retryable one is recorded as skipped (the next run picks the image up), any
    other as an error; what the phases recorded before is kept. An image that cannot finish within the
    invocation's time budget is not started: it is deferred whole."""
    unit = ImageUnit(ctx, target, trigger, ImageResult(image_id=target.image.id), index)
    try:
        why = ctx.image_may_start()
        if why is not None:
            unit.result.deferred.append(Note(Kind.NOT_STARTED, target.image.id, f"not started: {why}"))
            return unit.result
        run_phases(unit)
    except RetryableError as exc:
        unit.result.skipped.append(failure(target.image.id, exc))
    except GatewayError as exc:
        unit.result.errors.append(failure(target.image.id, exc))
    finally:
        ctx.pass_turn(index)
        # Stopped or finished: no new-build write of this image can come later in this run.
        ctx.budget.new_builds_done(target.image.subscription, target.image.id)
    return unit.result


def run_phases(unit: ImageUnit) -> None:
    """The phases in order, the writing ones under the image's lease."""
    with lease(unit):
        unit.held = {"run": uuid.uuid4().hex[:16], "from": wall_clock()}
        read(unit)
        if take_gate(unit) is not None:
            return  # a refused approval or revocation: nothing is written, and nothing else is done
        take_requests(unit)
        plan(unit)
        claim(unit)
        outbox_before(unit)
        record(unit)
        execute(unit)
        remember(unit)
        if not unit.dry_run:
            deliver(unit)
            wake(unit)
        unit.held["until"] = wall_clock()
    fill_result(unit)
    audit(unit)
    log.info(
        "image reconciled",
        extra={
            "image": unit.image.id,
            "actions": len(unit.claim.actions),
            "failed": sum(o.status == FAILED for o in unit.outcomes),
        },
    )


def lease(unit: ImageUnit) -> contextlib.AbstractContextManager[None]:
    """The image's lease in the shared store, held while the unit reads, writes and remembers; `plan`
    writes nothing, not even a lease: it only reads."""
    ctx = unit.ctx
    if ctx.plan_only:
        return contextlib.nullcontext()
    return ctx.rt.store.lease(unit.image.key(), ctx.rt.settings.lease_seconds)
