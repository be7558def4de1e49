"""Injected faults: `--faults 429=0.1,500=0.05,503=0.05,reset=0.02,lro-fail=0.05,region-fail=0.05,
applied-500=0.05` with `--seed N`.

Each non-control request draws once: it may be answered 429 (with Retry-After), 500, 503, or have its
connection dropped without an answer (`reset`). `lro-fail` is drawn when a long-running operation starts;
the operation then ends Failed and the resource's provisioningState becomes Failed. `region-fail` is drawn
for every target region a gallery image version write starts replicating: that region's replication ends
Failed, and so do the operation and the version (see `emulator.galleries.replication` for the model and
its sources). `applied-500` is drawn for every ARM write that succeeded: the write has taken effect, and the
answer is 500 all the same (an ambiguous answer: the client cannot tell the write from a failed one).
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field

KINDS = ("reset", "429", "500", "503", "lro-fail", "region-fail", "applied-500")


@dataclass
class FaultSpec:
    rates: dict[str, float] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str | None) -> FaultSpec:
        """Parse `kind=rate,...`; raises ValueError naming the bad part."""
        rates: dict[str, float] = {}
        for part in (text or "").split(","):
            part = part.strip()
            if not part:
                continue
            kind, sep, value = part.partition("=")
            kind = kind.strip().lower()
            if not sep or kind not in KINDS:
                raise ValueError(f"bad fault '{part}': expected one of {', '.join(KINDS)} as kind=rate")
            try:
                rate = float(value)
            except ValueError as exc:
                raise ValueError(f"bad fault rate in '{part}'") from exc
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"fault rate in '{part}' must be between 0 and 1")
            rates[kind] = rate
        if sum(rates.get(k, 0.0) for k in ("reset", "429", "500", "503")) > 1.0 + 1e-9:
            raise ValueError("the rates of reset, 429, 500 and 503 add up to more than 1")
        return cls(rates)

    def describe(self) -> str:
        return ",".join(f"{k}={v:g}" for k, v in self.rates.items())


class Faults:
    """A seeded source of fault decisions; the spec can be replaced at runtime."""

    def __init__(self, spec: FaultSpec, seed: int | None) -> None:
        self.spec = spec
        self._seed = seed
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        # How many of each kind were injected since start or reset (a chaos run reports them).
        self.injected: dict[str, int] = dict.fromkeys(KINDS, 0)

    def reseed(self, seed: int) -> None:
        """Start a new seeded sequence of decisions (one per chaos seed) and zero the counts."""
        with self._lock:
            self._seed = seed
            self._rng = random.Random(seed)
            self.injected = dict.fromkeys(KINDS, 0)

    def _count(self, kind: str | None) -> None:
        if kind is not None:
            self.injected[kind] += 1

    def set(self, spec: FaultSpec) -> None:
        with self._lock:
            self.spec = spec

    def reset(self) -> None:
        with self._lock:
            self._rng = random.Random(self._seed)
            self.injected = dict.fromkeys(KINDS, 0)

    def draw_request(self) -> str | None:
        """None, or one of reset / 429 / 500 / 503."""
        with self._lock:
            if not any(self.spec.rates.get(k) for k in ("reset", "429", "500", "503")):
                return None
            roll = self._rng.random()
            edge = 0.0
            for kind in ("reset", "429", "500", "503"):
                edge += self.spec.rates.get(kind, 0.0)
                if roll < edge:
                    self._count(kind)
                    return kind
            return None

    def draw_lro_fail(self) -> bool:
        return self._draw("lro-fail")

    def draw_applied_500(self) -> bool:
        return self._draw("applied-500")

    def draw_region_fail(self) -> bool:
        return self._draw("region-fail")

    def _draw(self, kind: str) -> bool:
        """One draw of a fault that strikes at its rate (the random stream advances only for a rate > 0)."""
        with self._lock:
            rate = self.spec.rates.get(kind, 0.0)
            hit = rate > 0 and self._rng.random() < rate
            self._count(kind if hit else None)
            return hit
