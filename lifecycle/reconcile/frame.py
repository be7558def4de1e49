"""What the run-level steps share (RunFrame): the gateways, whether the run only plans, its time and the
report it fills; and the run's own record of its errors.

The run's steps (policy step, door, scope, fan-out or in-process run, gate outcome, run outbox) each take
the frame instead of a list of arguments. One image's unit never sees it: its steps read the RunContext.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from lifecycle.reconcile.audit import AuditRecord, append_audit
from lifecycle.reconcile.results import RunReport
from lifecycle.reconcile.runtime import Runtime
from lifecycle.reconcile.trigger import Trigger

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunFrame:
    rt: Runtime
    report: RunReport  # the run's time (`at`) and trigger are the report's
    plan_only: bool = False
    at: datetime | None = None  # a fixed clock (the CLI's `--at`, tests); None: the runtime's clock

    @property
    def trigger(self) -> Trigger:
        return self.report.trigger

    @property
    def now(self) -> datetime:
        return self.report.at

    def clock(self) -> datetime:
        """The time now: the fixed clock, or the runtime's (read again, later than the run's start)."""
        return self.at or self.rt.clock()

    def record_errors(self) -> None:
        """Every error of the run (a denied call names ARM's action and scope) is logged and audited, so it
        is seen in the logs and the audit log as well as in the report and the exit code."""
        report = self.report
        for note in report.errors:
            log.error("reconcile error", extra={"target": note.target, "error": str(note)})
        if not self.plan_only:
            records = [AuditRecord.run_error(report.trigger, note, self.now) for note in report.errors]
            append_audit(self.rt.store, records, self.now.date())
