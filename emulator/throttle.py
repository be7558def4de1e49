"""ARM request throttling: token buckets per subscription, and the rate-limit headers ARM answers with.

Buckets (refilled continuously on real time): reads 250 (+25/s), writes 200 (+10/s), deletes 200 (+10/s).
They are always kept so `x-ms-ratelimit-remaining-subscription-*` headers carry real numbers; requests are
only refused (429 + `Retry-After`) when throttling is enabled. Compute answers also carry
`x-ms-ratelimit-remaining-resource` with per-operation 3-minute / 30-minute policies like the recordings.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from dataclasses import dataclass

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


class Throttle:
    """Per-subscription buckets plus sliding-window counters for the resource policies."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._lock = threading.Lock()
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        self._windows: dict[tuple[str, str], deque[float]] = {}

    def reset(self) -> None:
        with self._lock:
            self._buckets.clear()
            self._windows.clear()

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

    def resource_header(self, subscription: str, policy: str) -> str:
        """`Microsoft.Compute/<Policy>3Min;<left>,Microsoft.Compute/<Policy>30Min;<left>`."""
        short, long = RESOURCE_POLICIES.get(policy, (1000, 10000))
        now = time.monotonic()
        with self._lock:
            window = self._windows.setdefault((subscription.lower(), policy), deque())
            window.append(now)
            while window and now - window[0] > 1800:
                window.popleft()
            in_3 = sum(1 for t in window if now - t <= 180)
            in_30 = len(window)
        return (
            f"Microsoft.Compute/{policy}3Min;{max(0, short - in_3)},"
            f"Microsoft.Compute/{policy}30Min;{max(0, long - in_30)}"
        )
