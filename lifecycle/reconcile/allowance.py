"""One delete allowance per sweep interval, across the deployment.

`retention.max_deletes_per_run` means: at most N deletes from one sweep to the next, shared by the timer
sweep, every fan-out message it sends and every CLI `apply` until the next sweep, however many instances run
them at once. (Event runs delete nothing: deletes are retirement work, left to the sweep.)

The allowance is one small document in the state container (`allowance/deletes.json`): the sweep that
opened the interval and how many deletes were claimed in it. Each timer sweep opens a new interval; an image
claims its planned deletes before making them, with a conditional (ETag) write of the document, so of two
instances claiming at once one re-reads and claims from what is left. A claim that cannot be written (the
store unreachable, too much contention) grants nothing: no delete on doubt. A claimed delete that does not
happen (deferred, refused) is not given back before the next sweep: the cap errs on fewer deletes.

An interval lapses one sweep interval after it was opened (`lapsed`): where no timer sweep runs (only
`apply` by hand, or the timer stopped), the first claim after that opens the next interval itself, so the
cap still means N deletes per sweep interval and retirement is never stalled for good.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from lifecycle.gateways.errors import GatewayError, PreconditionFailed, RetryableError
from lifecycle.gateways.ports import StateStore
from lifecycle.model import iso, parse_time

log = logging.getLogger(__name__)

DOCUMENT = "allowance/deletes.json"
MAX_TRIES = 25  # conditional writes one claim may attempt before it gives up (granting nothing)


@dataclass(frozen=True)
class Interval:
    """The current interval: opened by the sweep at `opened` (None: no sweep yet), `used` deletes claimed."""

    opened: datetime | None = None
    used: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"opened": iso(self.opened) if self.opened else None, "used": self.used}

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Interval:
        if not data:
            return cls()
        opened = data.get("opened")
        used = data.get("used")
        return cls(
            opened=parse_time(opened) if isinstance(opened, str) and opened else None,
            used=used if isinstance(used, int) and used >= 0 else 0,
        )


def grant(used: int, cap: int, wanted: int) -> int:
    """How many of `wanted` deletes fit under `cap` when `used` are claimed already."""
    return max(0, min(wanted, cap - used))


def opens(current: Interval, sweep_at: datetime) -> bool:
    """Whether a sweep at `sweep_at` opens a new interval (a sweep never reopens a later one's)."""
    return current.opened is None or current.opened < sweep_at


def lapsed(current: Interval, now: datetime, length: timedelta) -> bool:
    """Whether the interval is over for a claim at `now`: never opened, or opened one sweep interval ago."""
    return current.opened is None or current.opened + length <= now


def in_force(current: Interval, now: datetime, length: timedelta) -> Interval:
    """The interval a claim at `now` draws on: the current one, or a fresh one opened now."""
    return Interval(opened=now, used=0) if lapsed(current, now, length) else current


class DeleteAllowance:
    """The deployment's delete allowance in the state container."""

    def __init__(self, store: StateStore, *, sleep: Any = time.sleep) -> None:
        self._store = store
        self._sleep = sleep

    def read(self, now: datetime, length: timedelta) -> Interval:
        """The interval a claim at `now` would draw on (see `in_force`)."""
        saved, _ = self._store.read_json(DOCUMENT)
        return in_force(Interval.from_json(saved), now, length)

    def open(self, sweep_at: datetime) -> Interval:
        """A timer sweep opens a new interval: nothing claimed yet. Raises GatewayError when the store
        cannot say (the sweep then deletes nothing)."""
        for attempt in range(MAX_TRIES):
            saved, etag = self._store.read_json(DOCUMENT)
            current = Interval.from_json(saved)
            if not opens(current, sweep_at):
                return current
            fresh = Interval(opened=sweep_at, used=0)
            try:
                self._store.write_json(DOCUMENT, fresh.to_json(), etag=etag)
                return fresh
            except (PreconditionFailed, RetryableError):
                self._pause(attempt)
        raise RetryableError("the delete allowance could not be opened: too many concurrent writers")

    def claim(self, wanted: int, cap: int, *, now: datetime, length: timedelta) -> int:
        """Claim up to `wanted` deletes under `cap` at `now` (`length`: the sweep interval); returns how
        many were granted (0 on any doubt)."""
        if wanted <= 0 or cap <= 0:
            return 0
        for attempt in range(MAX_TRIES):
            try:
                saved, etag = self._store.read_json(DOCUMENT)
            except GatewayError as exc:
                log.error("delete allowance unreadable: no deletes", extra={"error": str(exc)})
                return 0
            current = in_force(Interval.from_json(saved), now, length)
            granted = grant(current.used, cap, wanted)
            if granted == 0:
                return 0
            claimed = Interval(opened=current.opened, used=current.used + granted)
            try:
                self._store.write_json(DOCUMENT, claimed.to_json(), etag=etag)
                return granted
            except (PreconditionFailed, RetryableError):
                self._pause(attempt)  # another instance claimed first: read what is left
            except GatewayError as exc:
                log.error("delete allowance not written: no deletes", extra={"error": str(exc)})
                return 0
        log.warning("delete allowance contended: no deletes this time", extra={"tries": MAX_TRIES})
        return 0

    def _pause(self, attempt: int) -> None:
        self._sleep(random.uniform(0, min(0.5, 0.02 * (attempt + 1))))
