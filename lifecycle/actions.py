"""Actions as frozen data: what the planner decides and the executor carries out, each with an
idempotency key so the same decision made twice is recognisably the same."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Protocol

from lifecycle.notifications import Notification


class ActionKind(StrEnum):
    REPLICATE = "replicate"
    TAG = "tag"
    END_OF_LIFE = "end_of_life"
    EXCLUDE_FROM_LATEST = "exclude_from_latest"
    PROMOTE = "promote"
    DELETE = "delete"
    REBAKE = "rebake"


# Kinds that change an existing version's body: the executor folds them into one PATCH per version.
VERSION_UPDATES = frozenset(
    {
        ActionKind.REPLICATE,
        ActionKind.TAG,
        ActionKind.END_OF_LIFE,
        ActionKind.EXCLUDE_FROM_LATEST,
        ActionKind.PROMOTE,
    }
)


def _freeze(value: Any) -> Any:
    if isinstance(value, Mapping):
        return MappingProxyType({k: _freeze(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    return value


def thaw(value: Any) -> Any:
    """Plain JSON-able copy of a frozen action payload."""
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [thaw(v) for v in value]
    return value


@dataclass(frozen=True)
class Action:
    """One change to one resource.

    `before`/`after` hold just the fields this action changes, in the product's own vocabulary
    (for example `{"target_regions": {...}}` or `{"tags": {...}}`), so the audit log and `plan` can show
    them and the gallery gateway can turn them into one ARM request.
    """

    kind: ActionKind
    target: str
    reason: str
    before: Mapping[str, Any] = field(default_factory=dict)
    after: Mapping[str, Any] = field(default_factory=dict)
    notifications: tuple[Notification, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "before", _freeze(self.before))
        object.__setattr__(self, "after", _freeze(self.after))

    @property
    def key(self) -> str:
        """Deterministic idempotency key: the same change to the same target has the same key."""
        payload = json.dumps(
            [self.kind.value, self.target.lower(), thaw(self.after)], sort_keys=True, default=str
        )
        return hashlib.sha256(payload.encode()).hexdigest()[:20]

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "target": self.target,
            "reason": self.reason,
            "before": thaw(self.before),
            "after": thaw(self.after),
            "key": self.key,
        }


def announced_by_executor(action: Action) -> bool:
    """Whether the executor itself sends the action's event: a publish_event rebake's request IS its event,
    sent while the action runs (a failed delivery fails the action), so it is never put in the outbox."""
    return action.kind is ActionKind.REBAKE and bool(action.after.get("publish_event"))


# How an action ended (an outcome's status).
SUCCEEDED = "succeeded"
FAILED = "failed"
PLANNED = "planned"  # dry-run: recorded, not done
DEFERRED = "deferred"  # not started (budget, throttling or the run's time): the next run plans it again


class ActionOutcome(Protocol):
    """How one action ended, as the executor reports it (`lifecycle.executor.Outcome`)."""

    @property
    def action(self) -> Action: ...

    @property
    def status(self) -> str: ...

    @property
    def error(self) -> str | None: ...

    @property
    def retryable(self) -> bool: ...
