"""What a reconcile did: an ImageResult per image, a RunReport per run (what it was asked: `trigger`).

A RunReport is assembled from ImageResults in target order, whichever way the images were run, so a
sweep, an event, a queue message and the CLI report the same thing for the same work.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from lifecycle.budget import DELETE_VERSION, UPDATE_VERSION, WriteBudget
from lifecycle.executor import DEFERRED, FAILED, PLANNED, Outcome
from lifecycle.model import ObservedImage, iso, utc
from lifecycle.notifications import Notification
from lifecycle.planning import ImagePlan
from lifecycle.policy import ImagePolicy
from lifecycle.pricing import CostDelta, PriceTable, load_prices, plan_cost
from lifecycle.reconcile.notes import Note
from lifecycle.reconcile.trigger import Trigger
from lifecycle.report.consumers_section import consumer_sections
from lifecycle.report.data import ImageInput, build_report


@dataclass
class ImageResult:
    """One image's reconcile. `plan` is set only when the unit ran to its end; `skipped` and `errors`
    may be filled by a step that stopped it."""

    image_id: str
    plan: ImagePlan | None = None
    outcomes: list[Outcome] = field(default_factory=list)
    notifications: list[Notification] = field(default_factory=list)
    errors: list[Note] = field(default_factory=list)
    skipped: list[Note] = field(default_factory=list)
    refused: list[Note] = field(default_factory=list)
    # What the read step saw, for the cost of the plan and the fleet report.
    image_policy: ImagePolicy | None = None
    observed: ObservedImage | None = None
    deferred: list[Note] = field(default_factory=list)
    # Lifecycle events kept for a later run (the topic is down), and events dead-lettered, with why.
    undelivered: list[str] = field(default_factory=list)
    dead_letters: list[str] = field(default_factory=list)
    outbox_depth: int = 0  # lifecycle events kept unsent for a later run when the unit ended


@dataclass
class RunReport:
    at: datetime
    trigger: Trigger
    mode: str = "enforce"
    plans: list[ImagePlan] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)
    notifications: list[Notification] = field(default_factory=list)
    errors: list[Note] = field(default_factory=list)
    skipped: list[Note] = field(default_factory=list)
    rejected: list[Note] = field(default_factory=list)  # events from untrusted senders: changed nothing
    # Images not started, and why (the invocation's time budget): the next run takes them.
    deferred: list[Note] = field(default_factory=list)
    policy_problem: str | None = None
    no_policy: bool = False
    refused: list[Note] = field(default_factory=list)  # approvals/revocations refused, with why
    # (policy, observed, plan) of each image that ran to its end; the price table costs are taken from.
    images: list[ImageInput] = field(default_factory=list)
    prices: PriceTable | None = None
    # A fanned-out sweep: the images it enqueued, and the poison messages (images the queue function gave
    # up on) it found and enqueued again.
    enqueued: list[str] = field(default_factory=list)
    poison: list[str] = field(default_factory=list)
    # Per subscription: Compute's write budget left at the end of the run, and 429s received.
    budget: dict[str, Any] = field(default_factory=dict)
    # Who runs what (planning.consumers.Consumers.to_json()) and consumers.warn_days, for the fleet
    # report's consumer sections; None when the run did not read the in-use inventory.
    consumers: dict[str, Any] | None = None
    warn_days: int | None = None
    # Lifecycle events kept for a later run (the topic is down: not a failure of the run, whose writes are
    # done) and events dead-lettered (refused for good by the topic, or past the outbox's bounds).
    undelivered: list[str] = field(default_factory=list)
    dead_letters: list[str] = field(default_factory=list)
    outbox_depth: int = 0  # lifecycle events the images' outboxes kept for a later run

    @property
    def failed(self) -> bool:
        return bool(self.errors) or any(o.status == FAILED for o in self.outcomes)

    @property
    def needs_retry(self) -> bool:
        """Whether the delivery that asked for this run (an event, a queue message) is worth trying again:
        an error, or work skipped for a reason a later try can clear (see `notes.Kind.retry`)."""
        return bool(self.errors) or any(note.kind.retry for note in self.skipped)

    def problems(self) -> list[Note]:
        """What a retry would be for: the errors, then the skips a later try can clear."""
        return [*self.errors, *(note for note in self.skipped if note.kind.retry)]

    def add(self, result: ImageResult) -> None:
        """Fold one image's result in (callers add them in target order)."""
        self.refused.extend(result.refused)
        self.skipped.extend(result.skipped)
        self.errors.extend(result.errors)
        self.deferred.extend(result.deferred)
        self.undelivered.extend(result.undelivered)
        self.dead_letters.extend(result.dead_letters)
        self.outbox_depth += result.outbox_depth
        if result.plan is not None:
            self.plans.append(result.plan)
            if result.observed is not None and result.image_policy is not None:
                self.images.append(ImageInput(result.image_policy, result.observed, result.plan))
        self.outcomes.extend(result.outcomes)
        self.notifications.extend(result.notifications)

    def summary(self) -> dict[str, Any]:
        counts: dict[str, int] = {}
        for plan in self.plans:
            for action in plan.actions:
                counts[action.kind.value] = counts.get(action.kind.value, 0) + 1
        return {
            "images": len(self.plans),
            "actions": sum(len(p.actions) for p in self.plans),
            "by_kind": counts,
            "succeeded": sum(1 for o in self.outcomes if o.status == "succeeded"),
            "failed": sum(1 for o in self.outcomes if o.status == FAILED),
            "planned": sum(1 for o in self.outcomes if o.status == PLANNED),
            "deferred": sum(1 for o in self.outcomes if o.status == DEFERRED),
            "deferred_images": len(self.deferred),
            "enqueued": len(self.enqueued),
            "notifications": len(self.notifications),
            "undelivered": len(self.undelivered),
            "dead_letters": len(self.dead_letters),
            "errors": len(self.errors),
        }

    def price_table(self) -> PriceTable:
        if self.prices is None:
            self.prices = load_prices()
        return self.prices

    def cost(self) -> CostDelta:
        """The monthly cost change of the planned replicate and delete actions."""
        versions = {v.ref.key(): v for item in self.images for v in item.observed.versions}
        return plan_cost((a for p in self.plans for a in p.actions), versions, self.price_table())

    def fleet_report(self) -> dict[str, Any]:
        """The fleet report's data for what this run read and planned."""
        data = build_report(
            now=self.at,
            mode=self.mode,
            images=self.images,
            prices=self.price_table(),
            outcomes=self.outcomes,
            errors=self.errors,
            skipped=self.skipped,
        )
        return self.with_consumers(data)

    def with_consumers(self, data: dict[str, Any]) -> dict[str, Any]:
        """The report's consumer sections, when this run knows who runs what."""
        if self.consumers is not None:
            data["consumers"] = consumer_sections(
                data["images"], self.consumers, utc(self.at).date(), self.warn_days
            )
        return data

    def to_json(self) -> dict[str, Any]:
        children = self.children()
        cost = self.cost()
        return {
            "at": iso(self.at),
            "mode": self.mode,
            "trigger": {"source": self.trigger.source, "scope": self.trigger.scope},
            "policy_problem": self.policy_problem,
            "actions": [a.to_json() for p in self.plans for a in p.actions],
            "outcomes": [o.to_json() for o in self.outcomes],
            "images": [
                {
                    "image": p.image.id,
                    "versions": [_with_children(p.image.id, v.to_json(), children) for v in p.versions],
                    "rebake": p.rebake.to_json() if p.rebake else None,
                    "warnings": list(p.warnings),
                    "latest": p.latest_ids(),
                    "refused": list(p.refusals),
                }
                for p in self.plans
            ],
            "latest": {p.image.id: p.latest_ids() for p in self.plans},
            "soft_deleted": [d.to_json() for p in self.plans for d in p.soft_deleted],
            "notifications": [n.to_json() for n in self.notifications],
            "errors": self.errors,
            "skipped": self.skipped,
            "rejected": self.rejected,
            "refused": self.refused,
            "cost_delta_per_month": cost.total,
            "cost": cost.to_json(),
            "deferred": self.deferred,
            "enqueued": self.enqueued,
            "poison": self.poison,
            "budget": self.budget,
            "undelivered": self.undelivered,
            "dead_letters": self.dead_letters,
            "summary": self.summary(),
        }

    def children(self) -> dict[str, list[str]]:
        """Lower-cased version id -> the ids of the versions this run saw built on it."""
        out: dict[str, list[str]] = {}
        for plan in self.plans:
            for version in plan.versions:
                if version.parent:
                    out.setdefault(version.parent.strip().lower(), []).append(
                        f"{plan.image.id}/versions/{version.version}"
                    )
        return out


def _with_children(image_id: str, version: dict[str, Any], children: dict[str, list[str]]) -> dict[str, Any]:
    built_on = children.get(f"{image_id}/versions/{version['version']}".lower())
    if built_on:
        version["children"] = sorted(built_on)
    return version


def budget_summary(budget: WriteBudget, subscriptions: list[str], *, deletes_claimed: int) -> dict[str, Any]:
    """What each subscription's Compute write budget had left when the run ended (None: no answer said),
    for the run report's `budget`; `deletes_claimed` from the deployment's delete allowance."""
    return {
        "throttled": budget.throttled,
        "deferred_writes": budget.deferred,
        "paced_seconds": round(budget.paced, 1),  # summed over writes waiting for ARM's bucket
        "deletes_claimed": deletes_claimed,  # from the deployment's delete allowance of this interval
        "remaining": {
            sub: {op: budget.remaining(sub, op) for op in (UPDATE_VERSION, DELETE_VERSION)}
            for sub in subscriptions
        },
        # Compute counts per subscription and region: what each region had left.
        "by_region": {
            sub: {
                region: {op: budget.remaining(sub, op, region) for op in (UPDATE_VERSION, DELETE_VERSION)}
                for region in budget.regions(sub)
                if region
            }
            for sub in subscriptions
        },
    }
