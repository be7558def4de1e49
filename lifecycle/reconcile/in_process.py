"""The in-process run: every target's unit in this invocation (a sweep without the fan-out queue, an
event, a queue message, the command line), under the run's write budget; then what an approval or a
revocation came to; then what the run's shared reads add to the report (the write budget left, who runs
what, the run-wide problems).

Units run with subscriptions side by side and up to `image_concurrency` images at once in each. Results
come back in target order, so the report (and the events it publishes) are those of a sequential run.
"""

from __future__ import annotations

import contextvars
from concurrent.futures import ThreadPoolExecutor

from lifecycle import budget
from lifecycle.reconcile.frame import RunFrame
from lifecycle.reconcile.gate_outcome import gate_outcome
from lifecycle.reconcile.image import reconcile_image
from lifecycle.reconcile.results import ImageResult, budget_summary
from lifecycle.reconcile.runtime import RunContext, Target
from lifecycle.reconcile.trigger import Trigger
from lifecycle.reconcile.who_runs import report_who_runs


def run_in_process(frame: RunFrame, ctx: RunContext, targets: list[Target]) -> None:
    """Every target's unit, then the gate outcome, then the run-level parts of the report."""
    report, trigger = frame.report, frame.trigger
    token = budget.current.set(ctx.budget)
    try:
        for result in run_images(ctx, targets, trigger):
            report.add(result)
        if trigger.gate is not None:
            gate_outcome(frame, ctx)
    finally:
        budget.current.reset(token)
    subscriptions = sorted({t.image.subscription.lower() for t in targets})
    report.budget = budget_summary(ctx.budget, subscriptions, deletes_claimed=ctx.deletes_claimed)
    if trigger.source in ("sweep", "cli"):
        report_who_runs(ctx, report)
    report.errors.extend(ctx.problems.values())


def run_images(ctx: RunContext, targets: list[Target], trigger: Trigger) -> list[ImageResult]:
    """Every target's unit, in thread pools: one per subscription, `image_concurrency` wide."""
    width = ctx.rt.settings.image_concurrency
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
