"""Outgoing lifecycle events (CloudEvents 1.0 on LIFECYCLE_EVENTS_ENDPOINT): their types and payloads."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any

SOURCE = "/gallery-lifecycle"


class NotificationType(StrEnum):
    VERSION_REPLICATING = "ImageLifecycle.VersionReplicating"
    VERSION_REPLICATED = "ImageLifecycle.VersionReplicated"
    REPLICATION_FAILED = "ImageLifecycle.ReplicationFailed"
    VERSION_PROMOTED = "ImageLifecycle.VersionPromoted"
    VERSION_EXPIRED = "ImageLifecycle.VersionExpired"
    VERSION_DELETED = "ImageLifecycle.VersionDeleted"
    REBAKE_REQUESTED = "ImageLifecycle.RebakeRequested"
    REBAKE_FAILED = "ImageLifecycle.RebakeFailed"
    CONFIG_REJECTED = "ImageLifecycle.ConfigRejected"
    VERSION_APPROVED = "ImageLifecycle.VersionApproved"
    VERSION_REVOKED = "ImageLifecycle.VersionRevoked"
    VERSION_QUARANTINED = "ImageLifecycle.VersionQuarantined"
    BASE_IMAGE_DEPRECATED = "ImageLifecycle.BaseImageDeprecated"
    VERSION_EXPIRING = "ImageLifecycle.VersionExpiring"


@dataclass(frozen=True)
class Notification:
    """One outgoing event. `subject` is the resource id it is about (or the policy URL).

    `id` is the CloudEvent id: set by the outbox (`lifecycle.outbox`) so that a resend is recognisably the
    same event; None lets the publisher make one up.
    """

    type: NotificationType
    subject: str
    data: Mapping[str, Any] = field(default_factory=dict)
    id: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "data", MappingProxyType(dict(self.data)))

    def to_json(self) -> dict[str, Any]:
        out = {"type": self.type.value, "subject": self.subject, "data": dict(self.data)}
        if self.id is not None:
            out["id"] = self.id
        return out
