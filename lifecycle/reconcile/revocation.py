"""Revocations as they flow through a run: which versions an image's unit revoked (`revoked_by`), so
that children reconciled later see them, and which a run revoked (`revoked_in`), where the walk down the
versions built on them starts (`descendants.py`)."""

from __future__ import annotations

from collections.abc import Iterable

from lifecycle import tags as lt
from lifecycle.actions import PLANNED, SUCCEEDED, Action
from lifecycle.executor import Outcome
from lifecycle.model import VersionRef
from lifecycle.notifications import NotificationType
from lifecycle.reconcile.results import RunReport


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


def revoked_in(report: RunReport, version: VersionRef) -> set[str]:
    """What the run revoked, plus the requested version when it already was (a repeated `revoke` still
    walks the tree, so descendants missed before are caught)."""
    found: set[str] = set()
    for plan in report.plans:
        found |= revoked_by(plan.actions)
        if plan.image.key() == version.image_ref.key() and any(
            v.version == version.name and v.state == lt.STATE_REVOKED for v in plan.versions
        ):
            found.add(version.key())
    return found
