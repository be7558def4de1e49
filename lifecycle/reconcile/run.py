"""A run over targets, as a sequence of steps, each in a module of its own:

policy step (`policy_step`) -> trust at the door (`door`) -> scope (`scope`) -> the sweep's fan-out
(`fan_out`) or the in-process run (`in_process`), then the gate outcome and the revocation walk
(`gate_outcome`, `descendants`) -> the run's events (`run_outbox`) and errors (`frame`) -> the fleet report
(`report_writer`). The steps share one RunFrame (`frame`); the images of a run share a RunContext.

An event only narrows the scope to one image; it is never trusted as state. Each image is handled under
a blob lease (see `image.py`), so a sweep and an event on the same image never overwrite each other's
writes.
"""

from __future__ import annotations

from datetime import datetime

from lifecycle.gateways.errors import GatewayError
from lifecycle.reconcile.door import turned_away
from lifecycle.reconcile.fan_out import enqueue_event, fan_out, fans_out
from lifecycle.reconcile.frame import RunFrame
from lifecycle.reconcile.in_process import run_in_process
from lifecycle.reconcile.intake import record_event
from lifecycle.reconcile.inventory import freshness_for
from lifecycle.reconcile.notes import failure_of_text
from lifecycle.reconcile.policy_step import deletes_blocked, policy_in_force
from lifecycle.reconcile.report_writer import write_fleet_report, write_from_parts, write_parts
from lifecycle.reconcile.results import RunReport
from lifecycle.reconcile.run_outbox import publish
from lifecycle.reconcile.runtime import RunContext, Runtime
from lifecycle.reconcile.scope import event_image, targets
from lifecycle.reconcile.trigger import Trigger
from lifecycle.settings import Settings


class Reconciler:
    def __init__(self, runtime: Runtime, *, plan_only: bool = False, at: datetime | None = None) -> None:
        self.rt = runtime
        self.plan_only = plan_only
        self.at = at

    def run(self, trigger: Trigger) -> RunReport:
        frame = self._frame(trigger)
        report = frame.report
        status = policy_in_force(frame)
        if status.policy is None:
            publish(frame, report.notifications)  # ConfigRejected goes out even without a policy
            return report
        policy = status.policy
        report.mode = "plan" if self.plan_only else policy.mode
        if turned_away(frame, policy):
            return report
        ctx = RunContext(
            self.rt,
            policy,
            frame.now,
            plan_only=self.plan_only,
            deletes_blocked=deletes_blocked(frame, status),
            freshness=freshness_for(trigger.source),
        )
        if trigger.sweep and not self.plan_only:
            # The images of one fanned-out sweep run apart: they share base-image reads through the store.
            ctx.bases.share(self.rt.store, trigger.sweep)
        try:
            in_scope = list(targets(frame, policy, trigger.scope))
        except GatewayError as exc:
            report.errors.append(failure_of_text(exc))
            frame.record_errors()
            return report
        run_events = list(report.notifications)  # ConfigRejected; images deliver theirs through their outbox
        fanned_out = fans_out(frame)
        if fanned_out:
            fan_out(frame, ctx, in_scope)
        else:
            run_in_process(frame, ctx, in_scope)
        publish(frame, run_events)
        frame.record_errors()
        if fanned_out:
            write_from_parts(self.rt.store, report, [t.image for t in in_scope])
        elif trigger.source == "sweep" and not self.plan_only:
            write_fleet_report(self.rt.store, report)
        elif trigger.source == "queue" and not self.plan_only:
            write_parts(self.rt.store, report)  # the next fanned-out sweep assembles them
        return report

    def accept(self, trigger: Trigger) -> RunReport:
        """An event delivery when the fan-out queue runs the work: check it (the policy, and for a build or
        an approval the same trust decision as `run`), record what it carries in the image's state, enqueue
        the image. No ARM call; the queue function's run applies what was recorded. A policy change
        enqueues one message that fans the whole scope out (`run` of a sweep)."""
        frame = self._frame(trigger)
        report = frame.report
        status = policy_in_force(frame)
        if status.policy is None:
            publish(frame, report.notifications)
            return report
        policy = status.policy
        report.mode = policy.mode
        image = None
        if trigger.source != "policy":
            if turned_away(frame, policy):
                return report
            image = event_image(frame, policy)
            if image is None or not record_event(frame, image):
                return report
        if enqueue_event(frame, image):
            publish(frame, report.notifications)
        return report

    def _frame(self, trigger: Trigger) -> RunFrame:
        report = RunReport(at=self.at or self.rt.clock(), trigger=trigger)
        return RunFrame(self.rt, report, plan_only=self.plan_only, at=self.at)


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
