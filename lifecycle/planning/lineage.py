"""Provenance: what a version was built on (`lifecycle.base-image`), and whether that base has moved on.

A base is a Marketplace image (`publisher:offer:sku:version`) or a gallery image version id. Marketplace
versions are `Major.Minor.Build` decimal numbers and compare numerically (2024.10.10 is newer than
2024.10.9, which string order gets wrong); a gallery base's newest version is what `latest` resolves to:
the highest succeeded version not excluded from it. Pure: what ARM lists comes in as arguments.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from lifecycle import tags as lt
from lifecycle.model import (
    InvalidResourceId,
    ObservedImage,
    ObservedVersion,
    VersionRef,
    parse_version_id,
    version_key,
)
from lifecycle.planning.latest import latest_version

_NUMERIC = re.compile(r"^\d+(\.\d+)*$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class BaseImageError(ValueError):
    """A `lifecycle.base-image` value that names nothing this app can read."""


@dataclass(frozen=True)
class MarketplaceImage:
    publisher: str
    offer: str
    sku: str
    version: str

    @property
    def urn(self) -> str:
        return f"{self.publisher}:{self.offer}:{self.sku}:{self.version}"

    def key(self) -> tuple[str, str, str]:
        """Identifies the sku whose versions are compared (names are case-insensitive in ARM)."""
        return self.publisher.lower(), self.offer.lower(), self.sku.lower()

    def with_version(self, version: str) -> MarketplaceImage:
        return MarketplaceImage(self.publisher, self.offer, self.sku, version)


def parse_base_image(value: str) -> MarketplaceImage | VersionRef:
    """A Marketplace URN or a gallery version id; BaseImageError naming the value otherwise."""
    text = value.strip()
    if text.startswith("/"):
        try:
            return parse_version_id(text)
        except InvalidResourceId as exc:
            raise BaseImageError(f"base image {value!r} is not a gallery image version id: {exc}") from None
    parts = text.split(":")
    if len(parts) != 4 or not all(_NAME.match(p) for p in parts[:3]):
        raise BaseImageError(
            f"base image {value!r} is neither publisher:offer:sku:version nor a gallery image version id"
        )
    if not _NUMERIC.match(parts[3]):
        # `latest` (or any non-numeric version) says nothing about which version the build used.
        raise BaseImageError(f"base image {value!r}: version {parts[3]!r} is not Major.Minor.Build")
    return MarketplaceImage(*parts)


def marketplace_order(version: str) -> tuple[int, ...]:
    """Numeric sort key of a Marketplace version; non-numeric versions sort first (never 'newer')."""
    if not _NUMERIC.match(version):
        return (-1,)
    return tuple(int(part) for part in version.split("."))


def newest_marketplace(versions: Iterable[str]) -> str | None:
    numeric = [v for v in versions if _NUMERIC.match(v)]
    return max(numeric, key=marketplace_order, default=None)


@dataclass(frozen=True)
class BaseObservation:
    """The base image of an image's newest version and the newest version of that base, as read this run.

    `newer` is the newest base (a URN or version id) when it is newer than `current`, else None. `problem`
    says why the base could not be checked (nothing is triggered then).
    """

    current: str
    newer: str | None = None
    problem: str | None = None


def marketplace_update(current: MarketplaceImage, listed: Iterable[str]) -> BaseObservation:
    newest = newest_marketplace(listed)
    if newest is None:
        return BaseObservation(current.urn, problem=f"no versions listed for {current.urn}")
    if marketplace_order(newest) > marketplace_order(current.version):
        return BaseObservation(current.urn, newer=current.with_version(newest).urn)
    return BaseObservation(current.urn)


def gallery_update(current: VersionRef, base_image: ObservedImage) -> BaseObservation:
    newest = latest_version(base_image)  # what `latest` resolves to in a gallery base
    if newest is not None and version_key(newest.name) > version_key(current.name):
        return BaseObservation(current.id, newer=newest.ref.id)
    return BaseObservation(current.id)


def base_of(version: ObservedVersion) -> str | None:
    return lt.get(version.tags, lt.BASE_IMAGE)


def is_revoked(version: ObservedVersion) -> bool:
    return (lt.get(version.tags, lt.STATE) or "").lower() == lt.STATE_REVOKED
