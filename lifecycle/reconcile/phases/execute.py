"""The execute phase: the claimed actions run by the executor, within the run's write budget."""

from __future__ import annotations

from lifecycle.executor import Executor
from lifecycle.reconcile.phases.unit import ImageUnit


def execute(unit: ImageUnit) -> None:
    ctx, image = unit.ctx, unit.image
    executor = Executor(
        ctx.rt.gallery,
        ctx.rt.imagebuilder,
        ctx.rt.publisher,
        dry_run=unit.dry_run,
        may_write=ctx.may_write,
        new_builds_done=lambda: ctx.budget.new_builds_done(image.subscription, image.id),
    )
    unit.outcomes = executor.execute(unit.claim.actions, unit.found.observed)
