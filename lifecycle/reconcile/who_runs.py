"""Who runs which version (`python -m lifecycle consumers`): the in-use inventory listed afresh, read
against the policy's galleries and consumer rules. Reads only; nothing is written or kept."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from lifecycle.config import load_policy
from lifecycle.gateways.storage import policy_source
from lifecycle.planning.consumers import Consumers
from lifecycle.reconcile.inventory import Freshness
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
