"""Bases being deprecated: a Marketplace image version's `imageDeprecationStatus` (ComputeRP, `imageState`
Active | ScheduledForDeprecation | Deprecated, `scheduledDeprecationTime`, `alternativeOption`), and what it
means for the versions built on it. Pure: the statuses come in as read this run.

* `rebake.on_base_deprecation`: the newest healthy version's base deprecating makes a rebake due (see
  `lifecycle.planning.rebake`), once per base and state, and `BaseImageDeprecated` is published once per base
  and state.
* `retention.cap_at_base_deprecation`: a version's end-of-life is no later than its base's
  `scheduledDeprecationTime` (`caps`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from lifecycle.model import ImageDeprecation as Deprecation
from lifecycle.model import ObservedImage
from lifecycle.planning.lineage import BaseImageError, MarketplaceImage, base_of, parse_base_image


def marketplace_base(value: str | None) -> MarketplaceImage | None:
    """The Marketplace image a `lifecycle.base-image` names, if it names one."""
    if not value:
        return None
    try:
        base = parse_base_image(value)
    except BaseImageError:
        return None
    return base if isinstance(base, MarketplaceImage) else None


def caps(image: ObservedImage, statuses: Mapping[str, Deprecation]) -> dict[str, tuple[datetime, str]]:
    """Per version name: the latest end-of-life its base allows (`scheduledDeprecationTime` of a deprecating
    base) and why. `statuses` is keyed by the base's lower-cased URN."""
    out: dict[str, tuple[datetime, str]] = {}
    for version in image.versions:
        base = marketplace_base(base_of(version))
        found = statuses.get(base.urn.lower()) if base is not None else None
        if found is not None and found.deprecating and found.scheduled is not None:
            out[version.name] = (found.scheduled, f"capped at the base's deprecation: {found.describe()}")
    return out


__all__ = ["Deprecation", "caps", "marketplace_base"]
