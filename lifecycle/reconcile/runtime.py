"""The gateways a reconcile uses (Runtime) and what one run shares between its images (RunContext).

RunContext holds the run-wide reads (usage of versions, each gallery's soft delete) made once and the
run-wide delete budget; every image's unit reads it, none of the steps knows which trigger made it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from lifecycle.budget import Lane, WriteBudget
from lifecycle.gateways.errors import GatewayError
from lifecycle.gateways.gallery import GalleryGateway
from lifecycle.gateways.ports import EventPublisher, Gallery, ImageBuilder, MessageQueue, StateStore
from lifecycle.gateways.storage import state_store
from lifecycle.inventory import GalleryNames, Inventory
from lifecycle.model import GalleryInfo, GalleryRef, ImageRef, ImageUsage
from lifecycle.planning import consumers as planned_consumers
from lifecycle.planning.retention import SoftDelete
from lifecycle.policy import ImagePolicy, Policy
from lifecycle.reconcile.allowance import DeleteAllowance
from lifecycle.reconcile.base_reads import BaseReads
from lifecycle.reconcile.inventory import Freshness, gather
from lifecycle.reconcile.notes import Kind, Note, kind_of
from lifecycle.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    """The gateways one reconcile uses, each typed by its interface (`lifecycle/gateways/ports.py`); built
    from settings, replaceable for the CLI and tests."""

    settings: Settings
    gallery: Gallery
    store: StateStore
    publisher: EventPublisher
    imagebuilder: ImageBuilder | None = None
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    # Elapsed time for the invocation's time budget (seconds; replaceable in tests).
    timer: Callable[[], float] = time.monotonic
    # The sweep's fan-out queue (LIFECYCLE_FANOUT_QUEUE): when set, a sweep enqueues its images.
    queue: MessageQueue | None = None

    @classmethod
    def from_settings(cls, settings: Settings, env: dict[str, str] | None = None) -> Runtime:
        from lifecycle.gateways.imagebuilder import ImageBuilderGateway
        from lifecycle.gateways.publisher import publisher_from_settings

        return cls(
            settings=settings,
            gallery=GalleryGateway(settings),
            store=state_store(settings),
            publisher=publisher_from_settings(dict(os.environ) if env is None else env),
            imagebuilder=ImageBuilderGateway(settings),
            queue=_fanout_queue(settings),
        )

    def fanout(self) -> MessageQueue:
        """The fan-out queue, for steps that run only when one is configured (`queue` is set)."""
        if self.queue is None:
            raise LookupError("no fan-out queue configured (LIFECYCLE_FANOUT_QUEUE)")
        return self.queue


def _fanout_queue(settings: Settings) -> MessageQueue | None:
    if not settings.fanout_queue:
        return None
    from lifecycle.gateways.queue import FanoutQueue

    return FanoutQueue(settings, settings.fanout_queue)


@dataclass(frozen=True)
class Target:
    """One image definition in scope, as listed (its location and tags come with the listing)."""

    image_policy: ImagePolicy
    image: ImageRef
    location: str
    tags: dict[str, str]


# Near the end of the time budget: no image starts with less than this left, no write with less than
# WRITE_MARGIN (an image's unit is a few reads, its writes and a state write; each is one request).
IMAGE_MARGIN = 30.0
WRITE_MARGIN = 5.0


class RunContext:
    """What one run's images share: the policy, the time, the reads made once, the delete budget, the
    write budget and the deadline.

    Thread-safe: images of one run may be reconciled side by side. Planning takes turns in target order
    (`plan_turn`), so the run-wide delete budget is spent exactly as a sequential run would spend it.
    """

    def __init__(
        self,
        runtime: Runtime,
        policy: Policy,
        now: datetime,
        *,
        plan_only: bool,
        deletes_blocked: str | None,
        freshness: Freshness = Freshness.LIST,
    ) -> None:
        self.rt = runtime
        self.freshness = freshness
        self._inventory: Inventory | None = None
        self._names: GalleryNames | None = None
        self.policy = policy
        self.now = now
        self.plan_only = plan_only
        self.deletes_blocked = deletes_blocked
        self._lock = threading.Lock()
        self._inventory_flight = threading.Lock()
        self._usage: ImageUsage | None = None
        self._consumers: planned_consumers.Consumers | None = None
        self._galleries: dict[str, GalleryInfo | None] = {}
        self._deletes_used = 0
        self.deletes_claimed = 0
        self.allowance = DeleteAllowance(runtime.store)
        self.bases = BaseReads(runtime.gallery, policy, self.problem)
        # Run-wide reads that failed (a 403 names the action and scope): errors of the run, audited once.
        self.problems: dict[str, Note] = {}
        settings = runtime.settings
        self.budget = WriteBudget(reserve=settings.write_reserve, bulk_headroom=settings.bulk_headroom)
        self.time_budget = float(settings.time_budget_seconds)
        self._started = runtime.timer()
        self._turn = 0
        self._done_turns: set[int] = set()
        self._turns = threading.Condition()

    def problem(self, target: str, what: str, error: str | Exception) -> None:
        """Record a failed run-wide read once: the run reports it as an error and audits it."""
        kind = kind_of(error) if isinstance(error, Exception) else Kind.PERMANENT
        with self._lock:
            self.problems.setdefault(f"{what} {target}".lower(), Note(kind, target, f"{what}: {error}"))

    def time_left(self) -> float:
        return self.time_budget - (self.rt.timer() - self._started)

    def image_may_start(self) -> str | None:
        """None, or why an image is left to the next run (the invocation's time budget is nearly spent)."""
        margin = min(IMAGE_MARGIN, self.time_budget / 4)
        if self.time_left() < margin:
            return f"time budget of {self.time_budget:.0f} s nearly spent"
        return None

    def may_write(self, subscription: str, operation: str, lane: Lane, *, region: str = "") -> str | None:
        """Whether one write may start: the run's deadline first, then the budget of the subscription and
        region."""
        if self.time_left() < min(WRITE_MARGIN, self.time_budget / 10):
            return f"time budget of {self.time_budget:.0f} s spent"
        return self.budget.admit(subscription, operation, lane, region=region)

    @contextlib.contextmanager
    def plan_turn(self, index: int | None) -> Iterator[None]:
        """Hold the planning turn of the `index`-th target (None: no ordering, a single image)."""
        if index is None:
            yield
            return
        with self._turns:
            self._turns.wait_for(lambda: self._turn >= index)
        try:
            yield
        finally:
            self.pass_turn(index)

    def pass_turn(self, index: int | None) -> None:
        """Let the next target plan (also called when an image stops before planning)."""
        if index is None:
            return
        with self._turns:
            if index >= self._turn:
                self._done_turns.add(index)
            while self._turn in self._done_turns:
                self._done_turns.discard(self._turn)
                self._turn += 1
            self._turns.notify_all()

    def gallery_info(self, gallery: GalleryRef) -> GalleryInfo | None:
        """The gallery as read once per run (soft delete, sharing); None when ARM could not say, which
        is recorded as a problem of the run."""
        key = gallery.key()
        with self._lock:
            if key in self._galleries:
                return self._galleries[key]
        try:
            info: GalleryInfo | None = self.rt.gallery.gallery_info(gallery)
        except GatewayError as exc:
            log.warning("could not read the gallery", extra={"gallery": gallery.id, "error": str(exc)})
            info = None
            with self._lock:
                self.problems.setdefault(
                    f"gallery {key}",
                    Note(kind_of(exc), gallery.id, f"reading the gallery failed: {exc}"),
                )
        with self._lock:
            return self._galleries.setdefault(key, info)

    def names(self) -> GalleryNames:
        """Every policy gallery's shared and community names, from the galleries as read once per run."""
        with self._lock:
            if self._names is not None:
                return self._names
        shared: dict[str, GalleryRef] = {}
        community: dict[str, GalleryRef] = {}
        for gallery in self.policy.galleries:
            info = self.gallery_info(gallery.ref)
            if info is None:
                continue
            if info.sharing.unique_name:
                shared[info.sharing.unique_name.lower()] = gallery.ref
            community.update({name.lower(): gallery.ref for name in info.sharing.public_names})
        with self._lock:
            self._names = self._names or GalleryNames(shared=shared, community=community)
            return self._names

    def inventory(self) -> Inventory:
        """The in-use inventory of every in-use subscription, made once per run and, through the state
        container, once per sweep (reconcile/inventory.py). A gallery that cannot be read leaves it
        incomplete (its shared references could not be recognised)."""
        with self._lock:
            if self._inventory is not None:
                return self._inventory
        with self._inventory_flight:
            with self._lock:
                if self._inventory is not None:
                    return self._inventory
            inventory = gather(
                self.rt.gallery,
                self.rt.store,
                self.policy.in_use_subscriptions(),
                self.now,
                max_age=timedelta(seconds=self.rt.settings.sweep_interval_seconds),
                freshness=self.freshness,
                tag_names=planned_consumers.rules_of(self.policy).tag_names(),
                keep=not self.plan_only,
            )
            unread = [g.ref.id for g in self.policy.galleries if self.gallery_info(g.ref) is None]
            if unread and inventory.complete:
                inventory = replace(
                    inventory, problem=f"gallery not readable, shared ids unresolved: {unread[0]}"
                )
            with self._lock:
                self._inventory = inventory
        if not inventory.complete and not inventory.waiting:
            subscriptions = ", ".join(self.policy.in_use_subscriptions())
            self.problem(subscriptions, "in-use check failed, no version is deleted", inventory.problem or "")
        return inventory

    def usage(self) -> ImageUsage:
        """What the machines in the in-use subscriptions use (see `inventory`), worked out once per run."""
        with self._lock:
            if self._usage is not None:
                return self._usage
        usage = planned_consumers.usage(self.inventory(), self.names())
        with self._lock:
            self._usage = self._usage or usage
            return self._usage

    def consumers(self) -> planned_consumers.Consumers | None:
        """Who runs which version of the policy's images (None when the inventory is incomplete)."""
        inventory = self.inventory()
        if not inventory.complete:
            return None
        with self._lock:
            if self._consumers is not None:
                return self._consumers
        found = planned_consumers.consumers(
            inventory.machines,
            self.names(),
            planned_consumers.rules_of(self.policy),
            in_scope=lambda image: self.policy.for_image(image) is not None,
        )
        with self._lock:
            self._consumers = self._consumers or found
            return self._consumers

    @property
    def inventory_made(self) -> bool:
        with self._lock:
            return self._inventory is not None

    def soft_delete(self, gallery: GalleryRef) -> SoftDelete | None:
        """The gallery's soft delete, read once per run; unknown (None) if ARM cannot say: it only
        changes what the delete reports, never whether it happens."""
        info = self.gallery_info(gallery)
        return None if info is None else SoftDelete(*info.soft_delete)

    def shared_block(self, gallery: GalleryRef) -> str | None:
        """Why deletes in `gallery` wait: it is shared beyond its subscription (its consumers cannot be
        listed) and the policy does not opt in with `delete_when_shared`, or its sharing is unknown."""
        rule = self.policy.gallery(gallery)
        if rule is not None and rule.delete_when_shared:
            return None
        info = self.gallery_info(gallery)
        if info is None:
            return f"gallery {gallery.gallery} could not be read: its sharing is unknown"
        if info.sharing.beyond_subscription:
            return (
                f"gallery {gallery.gallery} is shared beyond its subscription (sharingProfile "
                f"{info.sharing.permissions}): consumers elsewhere cannot be listed; set "
                "delete_when_shared on the gallery to allow deletes"
            )
        return None

    def delete_budget(self, image_policy: ImagePolicy) -> int:
        """What is left of the deployment's delete allowance for this sweep interval (and of this run's
        own, for runs that claim nothing: plans and dry runs). Unreadable: nothing."""
        cap = image_policy.retention.max_deletes_per_run
        with self._lock:
            left = max(0, cap - self._deletes_used)
        try:
            shared = self.allowance.read(self.now, self.sweep_interval).used
        except GatewayError as exc:
            self.problem(
                "delete allowance", "reading the delete allowance failed, no version is deleted", str(exc)
            )
            return 0
        return min(left, max(0, cap - shared))

    @property
    def sweep_interval(self) -> timedelta:
        return timedelta(seconds=self.rt.settings.sweep_interval_seconds)

    def claim_deletes(self, count: int, image_policy: ImagePolicy) -> int:
        """Claim `count` deletes from the deployment's allowance; returns how many were granted."""
        granted = self.allowance.claim(
            count, image_policy.retention.max_deletes_per_run, now=self.now, length=self.sweep_interval
        )
        with self._lock:
            self.deletes_claimed += granted
        return granted

    def spend_deletes(self, count: int) -> None:
        with self._lock:
            self._deletes_used += count
