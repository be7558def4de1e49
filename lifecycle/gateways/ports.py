"""What the engine needs of the world outside, as Protocols: the gallery, the state store, the event
publisher, Image Builder and the fan-out queue (`Runtime` holds one of each). The SDK-backed classes beside
this module implement them; the CLI and tests may pass anything of the same shape.

Pure: no SDK, no wire format; only the engine's own value types cross these interfaces.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any, Protocol

from lifecycle.changes import VersionChange
from lifecycle.inventory import SubscriptionInventory
from lifecycle.model import (
    GalleryInfo,
    GalleryRef,
    ImageDeprecation,
    ImageRef,
    ObservedImage,
    ObservedVersion,
    RunObservation,
    SoftDeleted,
    VersionRef,
)
from lifecycle.notifications import Notification


class Gallery(Protocol):
    """Reads and writes of Compute Gallery resources (`GalleryGateway`). Writes start ARM's operation and
    return; a failure raises the engine's error kinds (`lifecycle.gateways.errors`)."""

    def list_images(self, gallery: GalleryRef) -> list[tuple[ImageRef, str, dict[str, str]]]: ...

    def get_image(self, image: ImageRef) -> tuple[str, dict[str, str]] | None: ...

    def read_image(
        self,
        image: ImageRef,
        location: str,
        tags: Mapping[str, str],
        wants_status: Callable[[ObservedVersion], bool] | None = None,
    ) -> ObservedImage: ...

    def get_version(self, ref: VersionRef) -> ObservedVersion | None: ...

    def update_version(self, change: VersionChange) -> None: ...

    def merge_tags(self, ref: VersionRef, tags: Mapping[str, str]) -> None: ...

    def delete_version(self, ref: VersionRef) -> None: ...

    def restore_version(self, ref: VersionRef) -> None: ...

    def soft_deleted_versions(self, image: ImageRef) -> list[SoftDeleted]: ...

    def gallery_info(self, gallery: GalleryRef) -> GalleryInfo: ...

    def soft_delete(self, gallery: GalleryRef) -> tuple[bool, int | None]: ...

    def marketplace_versions(
        self, subscription: str, location: str, publisher: str, offer: str, sku: str
    ) -> list[str]: ...

    def marketplace_deprecation(
        self, subscription: str, location: str, publisher: str, offer: str, sku: str, version: str
    ) -> ImageDeprecation: ...

    def machines(
        self, subscription: str, at: datetime, tag_names: frozenset[str] = frozenset()
    ) -> SubscriptionInventory: ...


class StateStore(Protocol):
    """The state container: JSON documents with ETag conditions, files, the audit log and leases."""

    def read_json(self, name: str) -> tuple[dict[str, Any] | None, str | None]: ...

    def write_json(self, name: str, document: dict[str, Any], *, etag: str | None) -> str: ...

    def write_file(self, name: str, body: bytes, *, content_type: str) -> None: ...

    def append_audit(self, records: Sequence[dict[str, Any]], *, day: date) -> None: ...

    def read_audit(self, day: date) -> list[dict[str, Any]]: ...

    def lease(self, name: str, seconds: int) -> contextlib.AbstractContextManager[None]: ...


class EventPublisher(Protocol):
    """Delivers notifications somewhere; raises PublishError when it cannot."""

    def publish(self, notifications: Sequence[Notification]) -> None: ...


class ImageBuilder(Protocol):
    """Image Builder templates a rebake runs (`ImageBuilderGateway`)."""

    def last_run(self, template_id: str) -> RunObservation: ...

    def start_run(self, template_id: str) -> None: ...


class MessageQueue(Protocol):
    """The fan-out queue (`FanoutQueue`): messages for later runs, and what the host gave up on."""

    def send(self, messages: Iterable[dict[str, Any]], *, delay_seconds: int = 0) -> int: ...

    def take_poison(self, limit: int = 256) -> list[dict[str, Any]]: ...
