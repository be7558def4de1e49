"""The write budget per subscription, region and operation, read from the rate-limit headers of ARM's answers.

Compute throttles each operation per subscription and per region ("Azure Compute requests may be throttled
at a subscription and on a per-region basis": learn.microsoft.com/troubleshoot/azure/virtual-machines/
troubleshooting-throttling-errors) over windows (PRODUCT.md section 2: e.g.
CreateUpdateGalleryImageVersion 375 per 3 minutes and 1,200 per 30 minutes) and reports what is left in
`x-ms-ratelimit-remaining-resource` (`Microsoft.Compute/<policy><window>;<left>`, one value per window).
An answer counts for the region of the resource written (`budget_region`, set by the executor around each
write): a 429 in westeurope holds back westeurope writes only, and eastus headroom is not spent there.
The app writes to a subscription only while that budget, less a reserve kept for everyone else (pipelines
publishing new builds), stays positive; a 429 blocks the operation for its `Retry-After`. Bulk work stops
earlier than new-build work, leaving headroom so a new build is never stuck behind a fleet-wide change.
A sweep that sees every image of a subscription releases that headroom once each of them has passed its
new-build lane (`expect_new_builds`, `new_builds_done`): no new-build write can come later in that run. It
does so only in windows of at most `RELEASE_WINDOW`, which slide before the next sweep (every 15 minutes by
default): a build published after the sweep waits at most that long for budget. Longer windows (30
minutes) span the next sweep and keep the headroom for its new builds.

What is refused is deferred to a later run, never slept on. One WriteBudget lives for one run (the SDK
clients feed it through `current`, a context variable the run sets), so every run starts by trusting the
first answer it gets. Pure and thread-safe; imports nothing from Azure.
"""

from __future__ import annotations

import contextlib
import contextvars
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import IntEnum

# Compute's operation groups for the writes the app makes (FACTS.md, ../shared/reference/throttling).
UPDATE_VERSION = "CreateUpdateGalleryImageVersion"
DELETE_VERSION = "DeleteGalleryImageVersion"

# ARM's own buckets refill at 10 writes and 10 deletes per second per subscription (PRODUCT.md section 2):
# when `x-ms-ratelimit-remaining-subscription-writes` says the bucket is nearly empty, a write waits the
# fraction of a second the refill takes instead of meeting a 429.
ARM_REFILL = 10.0
ARM_KEEP = 2.0
MAX_PACE = 2.0  # seconds one write may wait for ARM's bucket; a longer wait defers it
RELEASE_WINDOW = 300.0  # seconds: windows a sweep may spend its new-build headroom in (Compute's 3Min)
ANSWER_SKEW = 5.0  # seconds within which a higher count than the last one seen is an older answer

_RESOURCE_VALUE = re.compile(r"^\s*(?P<rp>[^/;]+)/(?P<name>[^;]+);(?P<left>-?\d+)\s*$")
_WINDOW = re.compile(r"(?P<minutes>\d+)Min$")
_SUBSCRIPTION = re.compile(r"/subscriptions/(?P<sub>[^/?]+)", re.IGNORECASE)


class Lane(IntEnum):
    """Work in the order it may spend the budget: what a new build needs, bulk work, deletions."""

    NEW_BUILD = 0
    BULK = 1
    DELETE = 2


@dataclass
class _Window:
    left: int
    seen: float
    seconds: float


@dataclass
class _Operation:
    windows: dict[str, _Window] = field(default_factory=dict)
    blocked_until: float = 0.0
    spent: int = 0  # writes admitted whose answers have not come back yet (in flight)
    probing: bool = False  # a first write is out and nothing is known yet: the others wait for its answer


class WriteBudget:
    """Remaining Compute budget per (subscription, operation), spent before each write."""

    def __init__(
        self,
        *,
        reserve: int = 3,
        bulk_headroom: int = 50,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.reserve = reserve
        self.bulk_headroom = bulk_headroom
        self.probe_wait = 10.0  # seconds a write waits for the first answer before going anyway
        self._clock = clock
        self._lock = threading.Condition()
        self._ops: dict[tuple[str, str, str], _Operation] = {}  # (subscription, region, policy)
        self._blocked_sub: dict[str, float] = {}
        self._arm: dict[tuple[str, str], list[float]] = {}  # (sub, writes|deletes) -> [left, seen, in flight]
        # Images of a subscription whose new-build writes may still come in this run. A subscription absent
        # here is not known whole (an event's run, a fanned-out image): its headroom is always kept.
        self._new_builds_open: dict[str, set[str]] = {}
        self.sleep: Callable[[float], None] = time.sleep
        self.paced = 0.0  # seconds writes waited for ARM's bucket
        self.throttled = 0  # 429 answers seen
        self.deferred = 0  # writes this budget refused

    def observe(self, url: str, status: int, headers: Mapping[str, str], region: str = "") -> None:
        """Learn from one answer (any request: reads report read policies, writes write policies) about the
        resource in `region`."""
        match = _SUBSCRIPTION.search(url)
        if match is None:
            return
        sub = match.group("sub").lower()
        region = region.lower()
        lowered = {k.lower(): v for k, v in headers.items()}
        now = self._clock()
        for kind in ("writes", "deletes"):
            arm_left = _seconds(lowered.get(f"x-ms-ratelimit-remaining-subscription-{kind}"))
            if arm_left is not None:
                with self._lock:
                    bucket = self._arm.get((sub, kind))
                    self._arm[(sub, kind)] = [arm_left, now, max(0.0, (bucket[2] if bucket else 0.0) - 1)]
        retry_after = _seconds(lowered.get("retry-after"))
        values = [
            m
            for m in (
                _RESOURCE_VALUE.match(v)
                for v in lowered.get("x-ms-ratelimit-remaining-resource", "").split(",")
            )
            if m
        ]
        with self._lock:
            touched: set[str] = set()
            for m in values:
                name = m.group("name")
                window = _WINDOW.search(name)
                policy = name[: window.start()] if window else name
                seconds = int(window.group("minutes")) * 60.0 if window else 180.0
                op = self._ops.setdefault((sub, region, policy), _Operation())
                left = int(m.group("left"))
                known = op.windows.get(name)
                if known is not None and now - known.seen < ANSWER_SKEW and known.left < left:
                    left = known.left  # answers of parallel writes can arrive out of order
                op.windows[name] = _Window(left, now, seconds)
                touched.add(policy)
                if status == 429 and retry_after and int(m.group("left")) <= 0:
                    op.blocked_until = max(op.blocked_until, now + retry_after)
            for policy in touched:
                # This answer's count includes its own request: one fewer in flight.
                op = self._ops[(sub, region, policy)]
                op.spent = max(0, op.spent - 1)
                op.probing = False
            if touched:
                self._lock.notify_all()
            if status == 429:
                self.throttled += 1
                if not touched and retry_after:
                    # ARM's own subscription limit (no Compute policy named): every write waits.
                    self._blocked_sub[sub] = max(self._blocked_sub.get(sub, 0.0), now + retry_after)
                    for (s, _, _), op in self._ops.items():
                        if s == sub:
                            op.probing = False
                    self._lock.notify_all()

    def expect_new_builds(self, subscription: str, images: list[str]) -> None:
        """This run sees the whole subscription: `images` are all that can still bring new-build work."""
        with self._lock:
            self._new_builds_open.setdefault(subscription.lower(), set()).update(i.lower() for i in images)

    def new_builds_done(self, subscription: str, image: str) -> None:
        """`image` has admitted (or deferred) every new-build write it had, or stopped without any."""
        with self._lock:
            self._new_builds_open.get(subscription.lower(), set()).discard(image.lower())

    def _headroom(self, sub: str, lane: Lane, window: _Window) -> int:
        if lane is Lane.NEW_BUILD:
            return 0
        open_images = self._new_builds_open.get(sub)
        # Released only when every image of the subscription is known to be past its new-build lane, and
        # only in a window that slides before the next sweep.
        released = open_images is not None and not open_images and window.seconds <= RELEASE_WINDOW
        return 0 if released else self.bulk_headroom

    def admit(self, subscription: str, operation: str, lane: Lane, *, region: str = "") -> str | None:
        """Spend one write of `operation` in `subscription` and `region`, or say why it must wait for a
        later run."""
        sub = subscription.lower()
        region = region.lower()
        now = self._clock()
        with self._lock:
            if self._blocked_sub.get(sub, 0.0) > now:
                self.deferred += 1
                return f"subscription {sub} throttled by ARM for {self._blocked_sub[sub] - now:.0f} s more"
            op = self._ops.setdefault((sub, region, operation), _Operation())
            where = f"subscription {sub}" + (f" in {region}" if region else "")
            # Nothing known yet: one write goes first, the others wait (briefly) for what its answer says,
            # so parallel images do not all meet a full window at once.
            if not op.windows and op.probing:
                self._lock.wait_for(lambda: not op.probing, timeout=self.probe_wait)
                now = self._clock()
            if not op.windows:
                op.probing = True
            if op.blocked_until > now:
                self.deferred += 1
                return f"{operation} throttled in {where} for {op.blocked_until - now:.0f} s more"
            for name, window in sorted(op.windows.items()):
                if now - window.seen >= window.seconds:
                    continue  # that window has slid past everything it counted
                keep = self.reserve + self._headroom(sub, lane, window)
                if window.left - op.spent <= keep:
                    self.deferred += 1
                    return (
                        f"{operation} budget in {where} kept for "
                        f"{'others' if lane is Lane.NEW_BUILD else 'new builds and others'}: "
                        f"{max(0, window.left - op.spent)} left in {name}"
                    )
            op.spent += 1
            wait = self._arm_wait(sub, "deletes" if operation == DELETE_VERSION else "writes", now)
        if wait > MAX_PACE:
            with self._lock:
                op.spent = max(0, op.spent - 1)
                self.deferred += 1
            return f"ARM's write bucket in subscription {sub} is empty for {wait:.1f} s"
        if wait > 0:
            self.paced += wait
            self.sleep(wait)
        return None

    def _arm_wait(self, sub: str, kind: str, now: float) -> float:
        """Take one token of ARM's bucket as last reported (refilled since); seconds until it is there."""
        known = self._arm.get((sub, kind))
        if known is None:
            return 0.0
        left, seen, in_flight = known
        tokens = left + (now - seen) * ARM_REFILL - in_flight
        known[2] = in_flight + 1
        return max(0.0, (ARM_KEEP + 1 - tokens) / ARM_REFILL)

    def remaining(self, subscription: str, operation: str, region: str | None = None) -> int | None:
        """The smallest known remaining count (for reports) in `region`, or in any region when None; None
        when no answer said."""
        now = self._clock()
        with self._lock:
            ops = [
                op
                for (s, r, o), op in self._ops.items()
                if s == subscription.lower() and o == operation and (region is None or r == region.lower())
            ]
            lefts = [w.left - op.spent for op in ops for w in op.windows.values() if now - w.seen < w.seconds]
            return min(lefts) if lefts else None

    def regions(self, subscription: str) -> list[str]:
        """The regions answers were seen for in `subscription` ('' for answers about no resource's region)."""
        with self._lock:
            return sorted({r for (s, r, _) in self._ops if s == subscription.lower()})


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None


current: contextvars.ContextVar[WriteBudget | None] = contextvars.ContextVar("write_budget", default=None)


_region: contextvars.ContextVar[str] = contextvars.ContextVar("write_region", default="")


@contextlib.contextmanager
def budget_region(region: str) -> Iterator[None]:
    """The answers of the calls made inside count for `region` (the location of the resource written)."""
    token = _region.set(region.lower())
    try:
        yield
    finally:
        _region.reset(token)


def observe_answer(url: str, status: int, headers: Mapping[str, str]) -> None:
    """Called by the SDK clients' pipeline for every answer: feeds the run's budget, if one is set."""
    budget = current.get()
    if budget is not None:
        budget.observe(url, status, headers, _region.get())
