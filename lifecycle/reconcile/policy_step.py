"""The run's first step: the policy in force, and whether the run may delete.

A document that cannot take effect is announced (ConfigRejected) and audited; the one accepted before
stays in force. Without any accepted policy the run stops with an error whose kind says whether a later
try may help. Deletes wait while the document is not the one in force, are left to the sweep by runs
answering an event, and need the sweep's delete allowance (opened by each timer sweep).
"""

from __future__ import annotations

from lifecycle.gateways.errors import GatewayError
from lifecycle.gateways.storage import policy_source
from lifecycle.policy_store import PolicyStatus, load_policy
from lifecycle.reconcile.allowance import DeleteAllowance
from lifecycle.reconcile.audit import AuditRecord, append_audit
from lifecycle.reconcile.frame import RunFrame
from lifecycle.reconcile.notes import Kind, Note, kind_of
from lifecycle.reconcile.trigger import Trigger


def policy_in_force(frame: RunFrame) -> PolicyStatus:
    """The policy in force; a newly rejected document is announced and audited (even by a plan). Without
    one (`status.policy` None) the run stops: its report says so, with an error of the run."""
    rt, report, now = frame.rt, frame.report, frame.now
    status = load_policy(policy_source(rt.settings), rt.store, now, remember=not frame.plan_only)
    report.policy_problem = status.problem
    if status.newly_rejected is not None:
        report.notifications.append(status.newly_rejected)
        record = AuditRecord.policy_rejected(report.trigger, status.newly_rejected, now)
        append_audit(rt.store, [record], now.date())
    if status.policy is None:
        # No valid policy was ever accepted: a document that cannot be read may be read next time; one
        # that was rejected needs a person.
        kind = Kind.TEMPORARY if status.unreadable else Kind.PERMANENT
        report.no_policy = True
        report.errors.append(Note(kind, "", status.problem or "no valid policy has been accepted yet"))
    return status


def deletes_blocked(frame: RunFrame, status: PolicyStatus) -> str | None:
    """Why the run deletes nothing (None: it may). A timer sweep that may delete opens the next delete
    interval, shared by its messages and CLI runs."""
    blocked = _deletes_paused(status) or _no_deletes(frame.trigger)
    if frame.trigger.source == "sweep" and not frame.plan_only and blocked is None:
        try:
            DeleteAllowance(frame.rt.store).open(frame.now)
        except GatewayError as exc:
            frame.report.errors.append(
                Note(
                    kind_of(exc),
                    "",
                    f"delete allowance not opened, no version is deleted this sweep: {exc}",
                )
            )
            blocked = "delete allowance unavailable: deletes paused"
    return blocked


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
