"""The virtual clock: starts at real now (or a given instant), runs on in real time, can be jumped.

Everything time-dependent in the emulator (replication progress, operation completion, Image Builder runs,
publish dates) is computed lazily from `VirtualClock.now()` whenever a request reads it.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta


def parse_iso(value: str) -> datetime:
    """Parse an ISO 8601 instant; naive values are taken as UTC. Raises ValueError."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    # Python < 3.11 could not read 7-digit fractions; be lenient for Azure's 100 ns precision.
    if "." in text:
        head, _, tail = text.partition(".")
        digits = ""
        rest = ""
        for i, ch in enumerate(tail):
            if ch.isdigit():
                digits += ch
            else:
                rest = tail[i:]
                break
        text = f"{head}.{digits[:6].ljust(6, '0')}{rest}"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def format_iso(moment: datetime) -> str:
    """Format like Azure compute does: `2021-10-12T06:33:52.0352727+00:00` (7 fraction digits)."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond:06d}0+00:00"


def add_months(moment: datetime, months: int) -> datetime:
    """Calendar month arithmetic (day clamped to the target month's length)."""
    month_index = moment.month - 1 + months
    year = moment.year + month_index // 12
    month = month_index % 12 + 1
    days_in_month = [31, 29 if _leap(year) else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
    return moment.replace(year=year, month=month, day=min(moment.day, days_in_month))


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


class VirtualClock:
    """A clock that runs at real speed from a settable origin."""

    def __init__(self, start: datetime | None = None) -> None:
        self._start = start
        self._lock = threading.Lock()
        self._origin_virtual = start or datetime.now(UTC)
        self._origin_real = time.monotonic()

    def now(self) -> datetime:
        with self._lock:
            return self._origin_virtual + timedelta(seconds=time.monotonic() - self._origin_real)

    def set(self, moment: datetime) -> None:
        """Jump to `moment`; the clock runs on from there."""
        with self._lock:
            self._origin_virtual = moment.astimezone(UTC)
            self._origin_real = time.monotonic()

    def advance(self, seconds: float) -> None:
        self.set(self.now() + timedelta(seconds=seconds))

    def reset(self) -> None:
        """Back to real now, or to the configured start instant."""
        self.set(self._start or datetime.now(UTC))
