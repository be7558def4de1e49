"""The outbox of lifecycle events: every event for a write is kept in the image's state until it is sent.

Owns the entries and how they move. An event for an action is recorded as an `intent` in the image's state
BEFORE the write is started; once the write succeeded it becomes `unsent` (a failed write drops it:
nothing is sent for a write that did not happen); once the topic took it, it leaves the outbox. An event
about an observation (a version found replicated, a rebake that failed) is recorded `unsent` with the
state change it belongs to. A run that finds entries left by an earlier run sends them again.

A run that died between recording an intent and recording the write's outcome leaves the intent behind.
The next run decides from ARM, re-read: if the planner wants the same action again (same idempotency key),
the write did not take and the intent is dropped (the new attempt records its own); if not, the write
took and the event is sent.

Each entry has a stable `id` (the CloudEvent id), derived from the action's idempotency key, the event type
and the version's ETag as read before the write: a resend carries the same id, so a consumer can drop
duplicates. The outbox is bounded (count and age): what outgrows it, and what the topic refuses for good,
leaves it as a dead letter (`DeadLetter`), kept by `lifecycle.reconcile.delivery`. Pure: no I/O.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any

from lifecycle.model import iso, parse_time
from lifecycle.notifications import Notification, NotificationType

INTENT = "intent"  # recorded before the write; its outcome is not known yet
UNSENT = "unsent"  # the write happened (or the observation was made): to be sent


def event_id(*parts: object) -> str:
    """A deterministic CloudEvent id from the parts (32 hex digits, UUID-sized)."""
    payload = json.dumps([str(p) if p is not None else None for p in parts], sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class OutboxEntry:
    id: str
    type: str
    subject: str
    data: Mapping[str, Any] = field(default_factory=dict)
    status: str = UNSENT
    key: str | None = None  # the action's idempotency key, for an event that belongs to a write
    recorded: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "data", MappingProxyType(dict(self.data)))

    def notification(self) -> Notification:
        return Notification(NotificationType(self.type), self.subject, dict(self.data), id=self.id)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "type": self.type,
            "subject": self.subject,
            "data": dict(self.data),
            "status": self.status,
        }
        if self.key:
            out["key"] = self.key
        if self.recorded:
            out["recorded"] = self.recorded
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> OutboxEntry:
        return cls(
            id=str(data["id"]),
            type=str(data["type"]),
            subject=str(data["subject"]),
            data=dict(data.get("data") or {}),
            status=str(data.get("status") or UNSENT),
            key=data.get("key"),
            recorded=data.get("recorded"),
        )


def for_action(
    key: str, notification: Notification, *, etag: str | None, recorded: str | None = None
) -> OutboxEntry:
    """An intent: the event `notification` announces, if the write with idempotency `key` succeeds."""
    return OutboxEntry(
        id=event_id("action", key, notification.type.value, etag),
        type=notification.type.value,
        subject=notification.subject,
        data=dict(notification.data),
        status=INTENT,
        key=key,
        recorded=recorded,
    )


def for_observation(
    notification: Notification, *, etag: str | None, recorded: str | None = None
) -> OutboxEntry:
    """An event about what a run observed (no write of its own), ready to be sent."""
    return OutboxEntry(
        id=event_id("observed", notification.type.value, notification.subject, dict(notification.data), etag),
        type=notification.type.value,
        subject=notification.subject,
        data=dict(notification.data),
        status=UNSENT,
        recorded=recorded,
    )


def resolve_intents(entries: Sequence[OutboxEntry], planned_keys: Iterable[str]) -> list[OutboxEntry]:
    """Intents left by a run that died mid-way: dropped when the same action is planned again (its write
    did not take), else sent (ARM no longer needs it: the write took)."""
    planned = set(planned_keys)
    out = []
    for entry in entries:
        if entry.status == INTENT:
            if entry.key in planned:
                continue
            entry = replace(entry, status=UNSENT)
        out.append(entry)
    return out


def settle(
    entries: Sequence[OutboxEntry], succeeded: Iterable[str], failed: Iterable[str]
) -> list[OutboxEntry]:
    """After the writes: intents of succeeded actions are to be sent, those of failed ones dropped. An
    intent whose action did not run at all stays an intent (resolved by the next run)."""
    ok, bad = set(succeeded), set(failed)
    out = []
    for entry in entries:
        if entry.status == INTENT and entry.key in bad:
            continue
        if entry.status == INTENT and entry.key in ok:
            entry = replace(entry, status=UNSENT)
        out.append(entry)
    return out


def merge(entries: Iterable[OutboxEntry], more: Iterable[OutboxEntry]) -> list[OutboxEntry]:
    """`entries` then `more`, one entry per id (the first one wins: it may already be settled)."""
    seen: dict[str, OutboxEntry] = {}
    for entry in [*entries, *more]:
        seen.setdefault(entry.id, entry)
    return list(seen.values())


def unsent(entries: Iterable[OutboxEntry]) -> list[OutboxEntry]:
    return [e for e in entries if e.status == UNSENT]


@dataclass(frozen=True)
class DeadLetter:
    """An event that will not be sent: the topic refused it for good (a 4xx), or it outgrew the outbox's
    bounds. Kept in the state container with why, for an operator to read (and resend by hand)."""

    entry: OutboxEntry
    reason: str
    at: str
    status: int | None = None
    code: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "event": self.entry.to_json(),
            "reason": self.reason,
            "at": self.at,
            "status": self.status,
            "code": self.code,
        }

    def describe(self) -> str:
        return f"{self.entry.subject}: {self.entry.type} ({self.entry.id}) dead-lettered: {self.reason}"


def bound(
    entries: Sequence[OutboxEntry], *, max_events: int, max_age: timedelta, now: datetime
) -> tuple[list[OutboxEntry], list[DeadLetter]]:
    """Keep the outbox within `max_events` unsent events none older than `max_age`: the others, oldest
    first, become dead letters. Intents stay (the next run resolves them from ARM); an entry without a
    recorded time has no age and only counts."""
    at = iso(now)
    dead: list[DeadLetter] = []
    kept: list[OutboxEntry] = []
    for entry in entries:
        recorded = _recorded(entry)
        if entry.status == UNSENT and recorded is not None and now - recorded > max_age:
            dead.append(DeadLetter(entry, f"not delivered within {_span(max_age)} (outbox age bound)", at))
        else:
            kept.append(entry)
    waiting = [e for e in kept if e.status == UNSENT]
    excess = len(waiting) - max_events
    if excess > 0:
        oldest = sorted(waiting, key=lambda e: _recorded(e) or now)[:excess]
        drop = {e.id for e in oldest}
        reason = f"outbox over {max_events} unsent events (count bound): the oldest leave it"
        dead += [DeadLetter(e, reason, at) for e in oldest]
        kept = [e for e in kept if e.id not in drop]
    return kept, dead


def _recorded(entry: OutboxEntry) -> datetime | None:
    try:
        return parse_time(entry.recorded) if entry.recorded else None
    except ValueError:
        return None


def _span(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours / 24:g} days" if hours >= 48 else f"{hours:g} hours"
