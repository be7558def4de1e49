"""Revocations as they flow through a run: which versions an image's unit revoked (`revoked_by`), so
that children reconciled later see them, and the walk down the versions built on them."""

from __future__ import annotations

from collections.abc import Iterable

from lifecycle.actions import PLANNED, SUCCEEDED, Action
from lifecycle.executor import Outcome
from lifecycle.notifications import NotificationType


def revoked_by(actions: Iterable[Action], outcomes: Iterable[Outcome] | None = None) -> set[str]:
    """The (lower-cased) versions these actions revoke, i.e. announce VersionRevoked for: with
    `outcomes`, only those done (or, in a plan, planned)."""
    done = None if outcomes is None else {o.action.key for o in outcomes if o.status in (SUCCEEDED, PLANNED)}
    return {
        a.target.lower()
        for a in actions
        if (done is None or a.key in done)
        and any(n.type is NotificationType.VERSION_REVOKED for n in a.notifications)
    }
