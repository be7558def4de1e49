"""Who runs which version: for `python -m lifecycle consumers` (`who_runs`, the in-use inventory listed
afresh, read against the policy's galleries and consumer rules; reads only, nothing is written or kept),
and for the fleet report at the end of a run (`report_who_runs`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from lifecycle.gateways.storage import policy_source
from lifecycle.planning.consumers import Consumers
from lifecycle.policy_store import load_policy
from lifecycle.reconcile.inventory import Freshness
from lifecycle.reconcile.results import RunReport
from lifecycle.reconcile.runtime import RunContext, Runtime


@dataclass(frozen=True)
class WhoRuns:
    consumers: Consumers | None
    problems: tuple[str, ...] = ()
    no_policy: bool = False


def who_runs(runtime: Runtime, now: datetime) -> WhoRuns:
    status = load_policy(policy_source(runtime.settings), runtime.store, now, remember=False)
    if status.policy is None:
        return WhoRuns(None, (status.problem or "no valid policy",), no_policy=True)
    ctx = RunContext(
        runtime, status.policy, now, plan_only=True, deletes_blocked=None, freshness=Freshness.LIST
    )
    found = ctx.consumers()
    problems = tuple(note.detail for note in ctx.problems.values())
    return WhoRuns(found, problems)


def report_who_runs(ctx: RunContext, report: RunReport) -> None:
    """Who runs what, for the fleet report: when the policy has a `consumers` section or the run read
    the inventory anyway (never an extra listing for a policy that does not ask)."""
    section = ctx.policy.consumers
    if not (section.owner_tag or section.production_tags or section.warn_days or ctx.inventory_made):
        return
    found = ctx.consumers()
    report.warn_days = section.warn_days
    report.consumers = found.to_json() if found is not None else None
