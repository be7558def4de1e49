"""Request throttling: ARM's token buckets per subscription, and Compute's per-operation policies.

ARM buckets (refilled continuously on real time): reads 250 (+25/s), writes 200 (+10/s), deletes 200
(+10/s). They are always kept so `x-ms-ratelimit-remaining-subscription-*` headers carry real numbers;
requests are only refused (429 + `Retry-After`) when throttling is enabled.

Compute's policies (source: "Troubleshooting API throttling errors", summarised with the real 429 body in
../shared/reference/throttling/FACTS.md and compute-429-example.json; limits from real answers, PRODUCT.md
section 2): each operation group is counted per subscription and per region over a 3-minute and a 30-minute
window, on the emulator's virtual clock so tests can move through a window in seconds. Per region: "Azure
Compute requests may be throttled at a subscription and on a per-region basis" (learn.microsoft.com/
troubleshoot/azure/virtual-machines/troubleshooting-throttling-errors); "All Compute throttling policies are
implemented on a per-region basis" (learn.microsoft.com/azure/virtual-machines/compute-throttling-limits).
A request's region is its resource's location (server.py `_region`); one whose region is unknown counts in
a window of its own (''). Every Compute answer carries
`x-ms-ratelimit-remaining-resource` (`Microsoft.Compute/<policy>;<left>`, one value per window); under
`--throttle` a request that would exceed a window is refused with 429 `OperationNotAllowed`, a `details[]`
entry `TooManyRequests` whose target names the window's policy, and `Retry-After`.
"""

from __future__ import annotations

import bisect
import json
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

BUCKETS: dict[str, tuple[float, float]] = {
    "reads": (250.0, 25.0),
    "writes": (200.0, 10.0),
    "deletes": (200.0, 10.0),
}

# Compute resource policies seen in real answers: name -> (3-minute limit, 30-minute limit).
RESOURCE_POLICIES: dict[str, tuple[int, int]] = {
    "GetGallery": (350, 2500),
    "GetGalleryImage": (600, 3000),
    "GetGalleryImageVersion": (2000, 10000),
    "CreateUpdateGallery": (50, 300),
    "CreateUpdateGalleryImage": (150, 750),
    "CreateUpdateGalleryImageVersion": (375, 1200),
    "DeleteGallery": (50, 300),
    "DeleteGalleryImage": (50, 300),
    "DeleteGalleryImageVersion": (150, 1000),
    "GetOperationStatus": (1200, 4200),
    "GetVM": (4000, 14000),
    "PutVM": (240, 1200),
    "DeleteVM": (240, 1200),
    "GetVMScaleSet": (2000, 10000),
    "PutVMScaleSet": (120, 600),
    "DeleteVMScaleSet": (120, 600),
}

_TYPE_WORDS = {
    "microsoft.compute/galleries": "Gallery",
    "microsoft.compute/galleries/images": "GalleryImage",
    "microsoft.compute/galleries/images/versions": "GalleryImageVersion",
    "microsoft.compute/virtualmachines": "VM",
    "microsoft.compute/virtualmachinescalesets": "VMScaleSet",
}


def bucket_for(method: str) -> str:
    if method == "GET" or method == "HEAD":
        return "reads"
    if method == "DELETE":
        return "deletes"
    return "writes"


def resource_policy(method: str, full_type: str) -> str | None:
    """The compute policy name for a request, e.g. `CreateUpdateGalleryImageVersion`."""
    lowered = full_type.lower()
    if lowered.endswith("/locations/capsoperations") or lowered.endswith("compute/locations/operations"):
        return "GetOperationStatus"
    word = _TYPE_WORDS.get(lowered)
    if word is None:
        return None
    if method == "GET":
        return f"Get{word}"
    if method == "DELETE":
        return f"Delete{word}"
    return f"Put{word}" if word.startswith("VM") else f"CreateUpdate{word}"


@dataclass
class _Bucket:
    capacity: float
    rate: float
    tokens: float
    stamp: float

    def refill(self, now: float) -> None:
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now


# The two windows of every Compute policy, in seconds, with the suffix Azure names them by
# (`CreateUpdateGalleryImageVersion3Min`, `...30Min`; FACTS.md: `HighCostGet3Min`, `HighCostGet30Min`).
WINDOWS: tuple[tuple[str, float], ...] = (("3Min", 180.0), ("30Min", 1800.0))

# Compute's own text for a throttled request (compute-429-example.json).
THROTTLED_MESSAGE = (
    "The server rejected the request because too many requests have been received for this subscription."
)


@dataclass
class Refusal:
    """Why Compute refuses a request: the window's policy name and when the caller may try again."""

    policy: str
    retry_after: int
    start: float
    end: float
    allowed: int
    measured: int
    headers: dict[str, str] = field(default_factory=dict)

    def body(self) -> dict[str, object]:
        """Compute's 429 body (compute-429-example.json), inside ARM's `error` envelope (CloudError,
        common-types/v1/common.json), as the SDK's error parsing expects."""

        def stamp(epoch: float) -> str:
            moment = datetime.fromtimestamp(epoch, UTC)
            return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond:06d}0+00:00"

        detail = {
            "operationGroup": self.policy,
            "startTime": stamp(self.start),
            "endTime": stamp(self.end),
            "allowedRequestCount": self.allowed,
            "measuredRequestCount": self.measured,
        }
        return {
            "error": {
                "code": "OperationNotAllowed",
                "message": THROTTLED_MESSAGE,
                "details": [
                    {
                        "code": "TooManyRequests",
                        "target": self.policy,
                        "message": json.dumps(detail, separators=(",", ":")),
                    }
                ],
            }
        }


class Throttle:
    """Per-subscription ARM buckets plus Compute's windowed counters per (subscription, region, policy)."""

    def __init__(self, enabled: bool, clock: Callable[[], float] | None = None) -> None:
        self.enabled = enabled
        # Compute's windows run on the virtual clock (epoch seconds); ARM's buckets on real time.
        self._clock = clock or time.time
        self._lock = threading.Lock()
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        self._windows: dict[tuple[str, str, str], deque[float]] = {}
        self.limits: dict[str, tuple[int, int]] = dict(RESOURCE_POLICIES)

    def reset(self) -> None:
        with self._lock:
            self._buckets.clear()
            self._windows.clear()
            self.limits = dict(RESOURCE_POLICIES)

    def take(self, subscription: str, method: str) -> tuple[bool, dict[str, str]]:
        """Spend one token. Returns (allowed, headers); when refused the headers carry Retry-After."""
        kind = bucket_for(method)
        now = time.monotonic()
        with self._lock:
            key = (subscription.lower(), kind)
            bucket = self._buckets.get(key)
            if bucket is None:
                capacity, rate = BUCKETS[kind]
                bucket = self._buckets[key] = _Bucket(capacity, rate, capacity, now)
            bucket.refill(now)
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return True, {f"x-ms-ratelimit-remaining-subscription-{kind}": str(int(bucket.tokens))}
            if not self.enabled:
                return True, {f"x-ms-ratelimit-remaining-subscription-{kind}": "0"}
            wait = max(1, math.ceil((1.0 - bucket.tokens) / bucket.rate))
            return False, {f"x-ms-ratelimit-remaining-subscription-{kind}": "0", "Retry-After": str(wait)}

    def admit(self, subscription: str, policy: str, region: str = "") -> Refusal | None:
        """Count one request against the policy's windows; under `--throttle`, refuse it (None means
        admitted) when a window is already full.

        Stricter reading where Azure is unconfirmed: a refused request is counted too (the documented
        429 measures 1,238 requests against 800 allowed, so refused calls are measured), the windows
        slide rather than reset, and when both windows are full the longer wait is the one reported.
        """
        limits = self.limits.get(policy, (1000, 10000))
        now = self._clock()
        with self._lock:
            window = self._windows.setdefault((subscription.lower(), region.lower(), policy), deque())
            while window and window[-1] > now:
                window.pop()  # the virtual clock was set back: forget counts from its future
            while window and now - window[0] >= WINDOWS[-1][1]:
                window.popleft()
            refusal: Refusal | None = None
            if self.enabled:
                for (suffix, seconds), limit in zip(WINDOWS, limits, strict=True):
                    inside = _count_since(window, now - seconds)
                    if inside < limit:
                        continue
                    # Free again once the oldest request that makes the window full has left it.
                    oldest = window[len(window) - limit]
                    wait = max(1, math.ceil(oldest + seconds - now))
                    if refusal is None or wait > refusal.retry_after:
                        refusal = Refusal(
                            policy=f"{policy}{suffix}",
                            retry_after=wait,
                            start=now - seconds,
                            end=now,
                            allowed=limit,
                            measured=inside + 1,
                        )
            window.append(now)
            header = self._header(window, now, policy, limits)
        if refusal is not None:
            refusal.headers = {
                "x-ms-ratelimit-remaining-resource": header,
                "Retry-After": str(refusal.retry_after),
            }
        return refusal

    def resource_header(self, subscription: str, policy: str, region: str = "") -> str:
        """`Microsoft.Compute/<Policy>3Min;<left>,Microsoft.Compute/<Policy>30Min;<left>` after the
        request that `admit` counted."""
        limits = self.limits.get(policy, (1000, 10000))
        now = self._clock()
        with self._lock:
            window = self._windows.get((subscription.lower(), region.lower(), policy), deque())
            return self._header(window, now, policy, limits)

    @staticmethod
    def _header(window: deque[float], now: float, policy: str, limits: tuple[int, int]) -> str:
        values = []
        for (suffix, seconds), limit in zip(WINDOWS, limits, strict=True):
            inside = _count_since(window, now - seconds)
            values.append(f"Microsoft.Compute/{policy}{suffix};{max(0, limit - inside)}")
        return ",".join(values)


def _count_since(window: deque[float], since: float) -> int:
    """How many stamps of the (ascending) window are later than `since`."""
    return len(window) - bisect.bisect_right(window, since)
