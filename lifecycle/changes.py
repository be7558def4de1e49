"""What one write changes, as typed data: the executor folds a version's planned actions into a
`VersionChange`, and the gallery gateway alone turns it into ARM's request (`lifecycle/gateways/gallery.py`).
Nothing here knows ARM's wire names."""

from __future__ import annotations

from dataclasses import dataclass

from lifecycle.model import TargetRegion, VersionRef


@dataclass(frozen=True)
class VersionChange:
    """Every property change planned for one version, written as one update (a version being updated
    takes no second write). A field left None is not sent, so ARM keeps what the version has.

    `target_regions` is the whole list: an update replaces the version's regions whole, so each region
    carries the fields the app does not own (`TargetRegion.extra`) as they were observed. `end_of_life` is
    the planned time as the action carries it (ISO 8601). Tags are never part of it: they are merged by name
    on their own (`GalleryGateway.merge_tags`)."""

    version: VersionRef
    target_regions: tuple[TargetRegion, ...] | None = None
    end_of_life: str | None = None
    exclude_from_latest: bool | None = None

    @property
    def empty(self) -> bool:
        return self.target_regions is None and self.end_of_life is None and self.exclude_from_latest is None
