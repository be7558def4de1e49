"""The audit log's one record type, with a named constructor for each thing the log tells.

Every line of `audit/YYYY-MM-DD.jsonl` is an AuditRecord: a write's outcome (`of_outcome`), an event
rejected for its sender (`build_rejected`, `gate_rejected`), an approval or revocation refused
(`gate_refused`), a policy document rejected (`policy_rejected`), a run's error (`run_error`) and an
operator's restore (`restored`). A field a record does not carry is left out of its line.
`append_audit` writes records and never undoes what the run did when it fails.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from lifecycle.gateways.errors import GatewayError
from lifecycle.model import iso

if TYPE_CHECKING:
    from lifecycle.executor import Outcome
    from lifecycle.gateways.ports import StateStore
    from lifecycle.notifications import Notification
    from lifecycle.reconcile.notes import Note
    from lifecycle.reconcile.trigger import GateRequest, Trigger

log = logging.getLogger(__name__)


class _Absent:
    def __repr__(self) -> str:
        return "ABSENT"


ABSENT: Any = _Absent()  # a field this kind of record does not carry (left out of its line)


@dataclass(frozen=True)
class AuditRecord:
    time: str
    trigger: str
    target: str
    action: str
    outcome: str
    event_id: str | None = ABSENT
    wall_clock: str = ABSENT
    reason: str | None = ABSENT
    before: Any = ABSENT
    after: Any = ABSENT
    key: str | None = ABSENT
    error: str | None = ABSENT
    lease: dict[str, str] = ABSENT

    # The order of a line's keys, as readers of the log have always seen them.
    ORDER = (
        "time", "wall_clock", "trigger", "event_id", "target", "action", "reason",
        "before", "after", "key", "outcome", "error", "lease",
    )  # fmt: skip

    def to_json(self) -> dict[str, Any]:
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        return {name: values[name] for name in self.ORDER if values[name] is not ABSENT}

    @classmethod
    def told(cls, trigger: Trigger, now: datetime, **fields: Any) -> AuditRecord:
        """A record of a run `trigger` asked for, at `now` (with its event's id unless `fields` say)."""
        fields.setdefault("event_id", trigger.event_id)
        return cls(time=iso(now), trigger=trigger.source, **fields)

    @classmethod
    def of_outcome(
        cls, outcome: Outcome, trigger: Trigger, now: datetime, *, lease: dict[str, str] | None = None
    ) -> AuditRecord:
        """A planned write and what came of it; `lease` is the interval the run held the image."""
        action = outcome.action.to_json()
        return cls.told(
            trigger,
            now,
            target=action["target"],
            action=action["kind"],
            reason=action["reason"],
            before=action["before"],
            after=action["after"],
            key=action["key"],
            outcome=outcome.status,
            error=outcome.error,
            lease=dict(lease) if lease else ABSENT,
        )

    @classmethod
    def gate_refused(cls, trigger: Trigger, now: datetime, refused: Note | str) -> AuditRecord:
        """An approval or revocation that cannot be taken (an unknown, expired or failed version)."""
        request = trigger.gate
        assert request is not None
        after = {"by": request.by, "reason": request.reason, "source": request.source}
        return cls.told(
            trigger, now, target=request.version.id, action=request.kind, reason=str(refused), after=after,
            outcome="rejected",
        )  # fmt: skip

    @classmethod
    def gate_rejected(cls, trigger: Trigger, request: GateRequest, now: datetime, reason: str) -> AuditRecord:
        """An approval (or revocation) event from a sender the gallery does not trust."""
        after = {"by": request.by, "source": request.source, "schema": request.schema}
        return cls.told(
            trigger, now, target=request.version.id, action=request.kind, reason=reason, after=after,
            outcome="rejected",
        )  # fmt: skip

    @classmethod
    def build_rejected(
        cls, trigger: Trigger, *, event_id: str | None, version_id: str, source: str | None, schema: str,
        now: datetime, reason: str,
    ) -> AuditRecord:  # fmt: skip
        """A build event from a sender the gallery does not trust."""
        after = {"source": source, "schema": schema}
        return cls.told(
            trigger, now, event_id=event_id, target=version_id, action="build_rejected", reason=reason,
            after=after, outcome="rejected",
        )  # fmt: skip

    @classmethod
    def policy_rejected(cls, trigger: Trigger, notification: Notification, now: datetime) -> AuditRecord:
        """A policy document that cannot take effect (ConfigRejected); the one in force stays."""
        return cls.told(
            trigger, now, event_id=ABSENT, target=notification.subject, action="policy_rejected",
            outcome="rejected", after=dict(notification.data),
        )  # fmt: skip

    @classmethod
    def run_error(cls, trigger: Trigger, note: Note, now: datetime) -> AuditRecord:
        """An error of the run (a denied call names ARM's action and scope)."""
        return cls.told(trigger, now, target=note.target, action="error", outcome="failed", error=str(note))

    @classmethod
    def restored(
        cls, version_id: str, message: str, provisioning_state: str | None, *, ok: bool, now: datetime
    ) -> AuditRecord:
        """An operator's restore of a soft-deleted version."""
        return cls(
            time=iso(now),
            wall_clock=datetime.now(UTC).isoformat(timespec="seconds"),
            trigger="cli",
            target=version_id,
            action="restore",
            reason=message,
            after={"provisioning_state": provisioning_state},
            outcome="succeeded" if ok else "failed",
        )


def wall_clock() -> str:
    """The wall-clock time (not the run's virtual `now`), for the interval a run held an image."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def append_audit(store: StateStore, records: list[AuditRecord], day: date) -> None:
    """Append records to the day's audit log; a failed append is logged, never undoes the writes made."""
    if not records:
        return
    try:
        store.append_audit([r.to_json() for r in records], day=day)
    except GatewayError as exc:
        log.error("audit log append failed", extra={"error": str(exc), "records": len(records)})
