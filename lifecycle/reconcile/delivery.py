"""Delivery of an outbox to the topic: the one place that sends lifecycle events and decides what a
refusal means.

- Sent: the events leave the outbox.
- A transient failure (no answer, 408, 429, 5xx): they stay for a later run. Never an error of the run:
  the writes they announce are done, and trying the run again would only repeat ARM work.
- A permanent refusal (any other 4xx: a wrong schema, a missing role, 413): the events it concerns become
  dead letters. A 400 or 413 for a batch is narrowed down by sending its events one by one, so one bad event
  does not take the others with it.
- The outbox's bounds (count and age, `lifecycle.outbox.bound`): the oldest become dead letters too.

Dead letters are kept in the state container (`outbox/dead-letters.json`: the newest ones with their reason,
and a running total), logged, and counted in the run report and the fleet report. An event is taken out of
the outbox only once its dead letter is stored.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from lifecycle import outbox as ob
from lifecycle.gateways.errors import GatewayError, PreconditionFailed, PublishError
from lifecycle.gateways.ports import EventPublisher, StateStore
from lifecycle.model import iso
from lifecycle.settings import Settings

log = logging.getLogger(__name__)

DEAD_LETTERS = "outbox/dead-letters.json"
# The document keeps the newest dead letters in full; `total` counts every one ever made.
DEAD_LETTERS_KEPT = 500
_WRITE_TRIES = 8
# Refusals narrowed down event by event: the batch may hold one bad event (400) or be too large (413).
_NARROWED = (400, 413)


def permanent(exc: PublishError) -> bool:
    """A 4xx other than 408 and 429 will be answered again to the same request."""
    status = exc.status
    return status is not None and 400 <= status < 500 and status not in (408, 429)


@dataclass
class Delivery:
    """What became of an outbox's unsent events: sent, dead (stored or not) and kept for later."""

    sent: set[str] = field(default_factory=set)
    dead: list[ob.DeadLetter] = field(default_factory=list)
    stored: bool = True  # whether `dead` is in the state container (else it stays in the outbox)
    problem: str | None = None  # why events were kept for a later run

    @property
    def leaving(self) -> set[str]:
        """The ids that leave the outbox."""
        return self.sent | ({d.entry.id for d in self.dead} if self.stored else set())

    def notes(self, what: str) -> tuple[list[str], list[str]]:
        """(undelivered, dead-lettered) lines for the report."""
        undelivered = (
            [f"{what}: lifecycle events not delivered, kept for a later run: {self.problem}"]
            if self.problem
            else []
        )
        dead = [d.describe() for d in self.dead] if self.stored else []
        if self.dead and not self.stored:
            undelivered.append(f"{what}: {len(self.dead)} dead letter(s) not stored, kept in the outbox")
        return undelivered, dead


class Noted(Protocol):
    """A report that lists what was kept for a later run and what was dead-lettered."""

    undelivered: list[str]
    dead_letters: list[str]


def deliver_and_drop(
    publisher: EventPublisher,
    store: StateStore,
    entries: Sequence[ob.OutboxEntry],
    *,
    now: datetime,
    settings: Settings,
    what: str,
    into: Noted,
    rewrite: Callable[[list[ob.OutboxEntry]], object] | None,
) -> list[ob.OutboxEntry]:
    """The one way an outbox is delivered: bound it (`outbox.bound`), send what it holds unsent, store the
    dead letters, note in `into` what stays or died, and (when anything left) `rewrite` its owner's record
    with the entries that remain (`what` names the owner, an image id or the run; `rewrite` is None when
    the outbox has no record to rewrite). A failed rewrite is only logged: sent but not marked, the events
    go out again from a later run under the same ids. Returns the entries that remain."""
    kept, dead = ob.bound(
        entries,
        max_events=settings.outbox_max_events,
        max_age=timedelta(hours=settings.outbox_max_age_hours),
        now=now,
    )
    outcome = Delivery(dead=dead)
    pending = ob.unsent(kept)
    if pending:
        _send(publisher, pending, outcome, iso(now))
    if outcome.dead:
        _store_dead(store, outcome, what)
    if outcome.problem:
        log.warning(
            "lifecycle events not delivered, kept for a later run",
            extra={"owner": what, "error": outcome.problem, "events": len(pending) - len(outcome.sent)},
        )
    undelivered, dead_lines = outcome.notes(what)
    into.undelivered.extend(undelivered)
    into.dead_letters.extend(dead_lines)
    leaving = outcome.leaving
    if not leaving:
        return list(entries)
    rest = [e for e in entries if e.id not in leaving]
    if rewrite is not None:
        try:
            rewrite(rest)
        except (PreconditionFailed, GatewayError) as exc:
            log.warning("sent lifecycle events not marked sent", extra={"owner": what, "error": str(exc)})
    return rest


def _store_dead(store: StateStore, result: Delivery, what: str) -> None:
    """Log each dead letter and store them; unstored, they stay in the outbox for a later run."""
    for letter in result.dead:
        log.error(
            "lifecycle event dead-lettered: %s",
            letter.reason,
            extra={
                "owner": what,
                "event_id": letter.entry.id,
                "event_type": letter.entry.type,
                "subject": letter.entry.subject,
                "status": letter.status,
            },
        )
    try:
        store_dead_letters(store, result.dead)
    except GatewayError as exc:
        result.stored = False
        log.warning("dead letters not stored, kept in the outbox", extra={"owner": what, "error": str(exc)})


def _send(publisher: EventPublisher, pending: list[ob.OutboxEntry], result: Delivery, at: str) -> None:
    try:
        publisher.publish([e.notification() for e in pending])
    except PublishError as exc:
        if not permanent(exc):
            result.problem = str(exc)
            return
        if exc.status in _NARROWED and len(pending) > 1:
            for entry in pending:
                _send(publisher, [entry], result, at)
                if result.problem:  # the topic went away meanwhile: the rest waits too
                    return
            return
        result.dead += [
            ob.DeadLetter(e, f"refused by the topic: {exc}", at, exc.status, exc.code) for e in pending
        ]
        return
    except Exception as exc:  # anything else is not the topic's final word: try again later
        result.problem = f"{exc.__class__.__name__}: {exc}"
        return
    result.sent |= {e.id for e in pending}


def store_dead_letters(store: StateStore, letters: Sequence[ob.DeadLetter]) -> None:
    """Add dead letters to the state container's document (ETag-conditional: several instances add at
    once). A letter already there (same event id) is not added twice."""
    for _ in range(_WRITE_TRIES):
        document, etag = store.read_json(DEAD_LETTERS)
        document = document or {"total": 0, "entries": []}
        known = {str((e.get("event") or {}).get("id")) for e in document.get("entries", [])}
        new = [d.to_json() for d in letters if d.entry.id not in known]
        if not new:
            return
        entries = [*document.get("entries", []), *new][-DEAD_LETTERS_KEPT:]
        try:
            store.write_json(
                DEAD_LETTERS,
                {"total": int(document.get("total") or 0) + len(new), "entries": entries},
                etag=etag,
            )
            return
        except PreconditionFailed:
            continue
    raise GatewayError(f"{DEAD_LETTERS}: changed by other runs {_WRITE_TRIES} times in a row")


def dead_letter_summary(store: StateStore) -> dict[str, Any]:
    """For the fleet report: how many events were dead-lettered, and the newest few with their reason."""
    document, _ = store.read_json(DEAD_LETTERS)
    document = document or {}
    recent = list(document.get("entries") or [])[-20:]
    return {
        "total": int(document.get("total") or 0),
        "recent": [
            {
                "at": e.get("at"),
                "type": (e.get("event") or {}).get("type"),
                "subject": (e.get("event") or {}).get("subject"),
                "reason": e.get("reason"),
            }
            for e in reversed(recent)
        ],
    }
