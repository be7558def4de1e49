"""One image's unit of work (ImageUnit): the one object every phase reads and fills, and the products it
carries (Read, Claim), and where the image's remembered state is stored (`image_state_name`).

A phase is `phase(unit)`: it reads what the unit was asked (the run's context, the target, the trigger,
the image's place among the run's targets) and what earlier phases produced, and sets its own product on
the unit. Reading a product whose phase has not run raises AttributeError: the order is `image.py`'s.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lifecycle.actions import Action
from lifecycle.executor import Outcome
from lifecycle.gateways.storage import safe_blob_name
from lifecycle.model import ImageRef, ObservedImage
from lifecycle.outbox import OutboxEntry
from lifecycle.planning import ImagePlan
from lifecycle.reconcile.results import ImageResult
from lifecycle.reconcile.runtime import RunContext, Target
from lifecycle.reconcile.trigger import Trigger
from lifecycle.state import ImageState, RebakeState


def image_state_name(image: ImageRef) -> str:
    return f"images/{safe_blob_name(image.key())}.json"


@dataclass(frozen=True)
class Read:
    """What the read phase found: the remembered state (with its ETag) and the image as ARM has it."""

    saved: dict[str, Any] | None
    etag: str | None
    state: ImageState
    observed: ObservedImage


@dataclass(frozen=True)
class Claim:
    """The actions left to run after the claim, and the rebake memory of a run that won it instead.
    `written` is the state the claim (or the record phase) wrote, if any."""

    actions: list[Action]
    etag: str | None
    saved: dict[str, Any] | None
    claimed_elsewhere: RebakeState | None = None
    written: ImageState | None = None


@dataclass(eq=False)
class ImageUnit:
    """One image's reconcile as it goes. Given: the run's context, the target, the trigger, `index` (the
    image's place among the run's targets, for planning in turn) and the `result` the phases fill for the
    report. Produced, in phase order: `held` (the lease interval), `found` (read; the gate phases update
    its state), `plan`, `claim` (claim; record), `entries` (the outbox before the writes), `outcomes`
    (execute), `stored` and `etag` (remember: the state as now stored, and its ETag, None when it could
    not be stored)."""

    ctx: RunContext
    target: Target
    trigger: Trigger
    result: ImageResult
    index: int | None = None

    # The wall-clock interval this run held the image, in its audit records: two runs that held one image at
    # once would show as overlapping intervals (the storm test reads them back).
    held: dict[str, str] = field(init=False, repr=False)
    found: Read = field(init=False, repr=False)
    plan: ImagePlan = field(init=False, repr=False)
    claim: Claim = field(init=False, repr=False)
    entries: list[OutboxEntry] = field(init=False, repr=False)
    outcomes: list[Outcome] = field(init=False, repr=False)
    stored: ImageState = field(init=False, repr=False)
    etag: str | None = field(init=False, repr=False)

    @property
    def image(self) -> ImageRef:
        return self.target.image

    @property
    def dry_run(self) -> bool:
        """Nothing is written: a `plan` run, or an image whose policy says dry run."""
        return self.ctx.plan_only or self.target.image_policy.dry_run

    @property
    def state_name(self) -> str:
        return image_state_name(self.target.image)
