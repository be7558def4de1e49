"""The figures each reliability suite prints at the end of a run: inputs tried, faults injected, invariants
checked, violations (and any counters a suite adds), gathered per suite across its tests."""

from __future__ import annotations

import os
import threading
from collections import defaultdict

# The standard columns, in the order they are printed; a suite may add its own counters after them.
COLUMNS = ("inputs", "faults", "checks", "violations")
_lock = threading.Lock()
_figures: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))


def scale(short: int, full: int) -> int:
    """`full` under `make fuzz` / `make chaos` / `make storm` (RELIABILITY_SCALE=full), else `short`."""
    return full if os.environ.get("RELIABILITY_SCALE", "short") == "full" else short


def add(suite: str, **counts: int) -> None:
    with _lock:
        for name, value in counts.items():
            _figures[suite][name] += value


def peak(suite: str, name: str, value: int) -> None:
    """Keep the largest value seen (a time or a memory figure), not a sum."""
    with _lock:
        _figures[suite][name] = max(_figures[suite].get(name, 0), value)


def check(suite: str, ok: bool, what: str, failures: list[str]) -> None:
    """Count one invariant check; a broken one is counted and remembered for the test's assertion."""
    add(suite, checks=1, violations=0 if ok else 1)
    if not ok:
        failures.append(what)


def snapshot() -> dict[str, dict[str, int]]:
    with _lock:
        return {suite: dict(counts) for suite, counts in _figures.items()}


def render() -> list[str]:
    lines = []
    for suite, counts in sorted(snapshot().items()):
        parts = [f"{name} {counts.get(name, 0):,}" for name in COLUMNS]
        parts += [f"{name} {value:,}" for name, value in sorted(counts.items()) if name not in COLUMNS]
        lines.append(f"{suite}: " + ", ".join(parts))
    return lines
