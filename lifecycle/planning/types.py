"""What the planner returns for one image: actions, notifications, per-version reports and the new state."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lifecycle.actions import Action
from lifecycle.model import ImageRef, SoftDeleted
from lifecycle.notifications import Notification
from lifecycle.state import ImageState


@dataclass(frozen=True)
class VersionReport:
    """A version's lifecycle state and the next thing that will happen to it, for `plan` and the audit."""

    version: str
    state: str
    notes: tuple[str, ...] = ()
    expires: str | None = None
    deleted: str | None = None
    protected: str | None = None
    parent: str | None = None  # what it was built on (lifecycle.base-image)
    children: tuple[str, ...] = ()  # versions built on it, as far as the run saw
    # Why retention would delete it but does not (a note says so too); for the report's deferred work.
    delete_blocked: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"version": self.version, "state": self.state}
        if self.notes:
            out["notes"] = list(self.notes)
        if self.children:
            out["children"] = list(self.children)
        for key in ("expires", "deleted", "protected", "parent"):
            value = getattr(self, key)
            if value:
                out[key] = value
        return out

    def summary(self) -> str:
        parts = []
        if self.protected:
            parts.append(f"kept: {self.protected}")
        if self.expires:
            parts.append(f"expires {self.expires}")
        if self.deleted:
            parts.append(f"deleted {self.deleted}")
        parts.extend(self.notes)
        return ", ".join(parts)


@dataclass(frozen=True)
class RebakeReport:
    due: bool
    reason: str
    next_time: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"due": self.due, "reason": self.reason, "next": self.next_time}


@dataclass(frozen=True)
class ImagePlan:
    image: ImageRef
    actions: tuple[Action, ...] = ()
    notifications: tuple[Notification, ...] = ()
    versions: tuple[VersionReport, ...] = ()
    warnings: tuple[str, ...] = ()
    state: ImageState = field(default_factory=ImageState)
    rebake: RebakeReport | None = None
    # `latest` per region once the plan is done: region -> version name (None: no eligible version).
    latest: Mapping[str, str | None] = field(default_factory=dict)
    refusals: tuple[str, ...] = ()  # changes refused because they would break `latest` in a region
    # The image's soft-deleted versions, restorable until Azure purges them (read by the run, not planned).
    soft_deleted: tuple[SoftDeleted, ...] = ()

    def latest_ids(self) -> dict[str, str | None]:
        """`latest` per region as version ids (what `plan --json` shows)."""
        return {
            region: (self.image.version(name).id if name else None) for region, name in self.latest.items()
        }

    @property
    def deletes(self) -> int:
        from lifecycle.actions import ActionKind

        return sum(1 for a in self.actions if a.kind is ActionKind.DELETE)
