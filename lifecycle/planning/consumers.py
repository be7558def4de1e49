"""Who runs what: the in-use inventory (lifecycle/inventory.py) read against the policy's galleries.

Pure functions; no I/O, no clock. A machine names a gallery image in one of four ways (`via`):
- `exact`: `imageReference.id` of a version;
- `latest`: `imageReference.id` of an image definition (or `.../versions/latest`), the version it runs being
  the `exactVersion` Azure reports (computeExamples/VirtualMachineScaleSetVM_List_WithResiliencyView.json);
- `shared`: `sharedGalleryImageId` `/SharedGalleries/<uniqueName>/Images/<image>[/Versions/<v|latest>]`;
- `community`: `communityGalleryImageId` `/CommunityGalleries/<publicName>/...`
  (computeExamples/VirtualMachine_Create_FromASharedGalleryImage.json, ..._FromACommunityGalleryImage.json).
Shared and community names resolve through the galleries' `identifier.uniqueName` and public names; a name
that is no gallery of the policy is another publisher's image, not ours to protect.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any

from lifecycle.inventory import INSTANCE, SCALE_SET, VM, GalleryNames, Inventory, Machine
from lifecycle.model import (
    ImageRef,
    ImageUsage,
    InvalidResourceId,
    ObservedImage,
    VersionRef,
    iso,
    parse_resource_id,
)
from lifecycle.notifications import Notification, NotificationType
from lifecycle.policy import Policy

_SHARED_ID = re.compile(
    r"^/(?P<kind>SharedGalleries|CommunityGalleries)/(?P<gallery>[^/]+)/Images/(?P<image>[^/]+)"
    r"(?:/Versions/(?P<version>[^/]+))?/?$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Use:
    """What one machine's image reference names: the image, the version it runs when known (an exact
    reference, or `exactVersion` of one that follows `latest`), and how it names them."""

    image: ImageRef
    version: VersionRef | None
    via: str  # exact | latest | shared | community
    follows_latest: bool


def resolve(reference: Mapping[str, Any], names: GalleryNames) -> Use | None:
    """The gallery image (and version) a reference names, or None when it is no image of the policy's
    galleries' (a Marketplace image, another publisher's gallery, a malformed id)."""
    exact = reference.get("exactVersion")
    exact = str(exact) if isinstance(exact, str) and exact else None
    if reference.get("id"):
        return _by_id(str(reference["id"]), exact)
    for key, via in (("sharedGalleryImageId", "shared"), ("communityGalleryImageId", "community")):
        if reference.get(key):
            return _by_shared_id(str(reference[key]), via, exact, names)
    return None


def _by_id(reference: str, exact: str | None) -> Use | None:
    follows = reference.lower().rstrip("/").endswith("/versions/latest")
    if follows:
        reference = reference.rstrip("/")[: -len("/versions/latest")]
    try:
        ref = parse_resource_id(reference)
    except InvalidResourceId:
        return None
    if isinstance(ref, VersionRef):
        return Use(ref.image_ref, ref, "exact", False)
    if isinstance(ref, ImageRef):
        return Use(ref, _version(ref, exact), "latest", True)
    return None


def _by_shared_id(reference: str, via: str, exact: str | None, names: GalleryNames) -> Use | None:
    match = _SHARED_ID.match(reference.strip())
    if not match:
        return None
    by_name = names.shared if via == "shared" else names.community
    gallery = by_name.get(match["gallery"].lower())
    if gallery is None:
        return None
    try:
        image = gallery.image(match["image"])
    except InvalidResourceId:
        return None
    version = match["version"]
    if version is None or version.lower() == "latest":
        return Use(image, _version(image, exact), via, True)
    return Use(image, _version(image, version), via, False)


def _version(image: ImageRef, name: str | None) -> VersionRef | None:
    if not name:
        return None
    with contextlib.suppress(InvalidResourceId):
        ref = parse_resource_id(f"{image.id}/versions/{name}")
        return ref if isinstance(ref, VersionRef) else None
    return None


def usage(inventory: Inventory, names: GalleryNames) -> ImageUsage:
    """What retention and replication need from the inventory: the versions machines run and the images
    they follow through `latest`, where each version runs, and the demand per version and region (VMs on
    it plus the capacity of scale sets deploying it; scale sets on `latest` are counted per image)."""
    versions: set[str] = set()
    images: set[str] = set()
    running: dict[str, set[str]] = {}
    demand: dict[str, dict[str, int]] = {}
    latest_demand: dict[str, dict[str, int]] = {}
    for machine in inventory.machines:
        use = resolve(machine.reference, names)
        if use is None:
            continue
        if use.follows_latest:
            images.add(use.image.key())
        if machine.kind == SCALE_SET and use.follows_latest:
            by_region = latest_demand.setdefault(use.image.key(), {})
            by_region[machine.region] = by_region.get(machine.region, 0) + (machine.capacity or 0)
        if use.version is None:
            continue
        key = use.version.key()
        versions.add(key)
        running.setdefault(key, set()).add(machine.region)
        if (machine.kind == VM and not machine.scale_set) or (
            machine.kind == SCALE_SET and not use.follows_latest
        ):
            count = 1 if machine.kind == VM else (machine.capacity or 0)
            by_region = demand.setdefault(key, {})
            by_region[machine.region] = by_region.get(machine.region, 0) + count
    return ImageUsage(
        frozenset(versions),
        frozenset(images),
        complete=inventory.complete,
        problem=inventory.problem,
        running_regions=_frozen({k: frozenset(v) for k, v in running.items()}),
        demand=_frozen({k: _frozen(v) for k, v in demand.items()}),
        latest_demand=_frozen({k: _frozen(v) for k, v in latest_demand.items()}),
    )


def _frozen(value: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(value))


# -- who runs what (the `consumers` command, warnings, the report) ------------------------------------------
@dataclass(frozen=True)
class ConsumerRules:
    """The policy's `consumers` section, as planning reads it."""

    owner_tag: str | None = None
    production_tags: Mapping[str, str] = field(default_factory=dict)

    def owner(self, machine: Machine) -> str | None:
        if not self.owner_tag:
            return None
        wanted = self.owner_tag.lower()
        return next((v for k, v in machine.tags.items() if k.lower() == wanted), None)

    def production(self, machine: Machine) -> bool:
        if not self.production_tags:
            return False
        tags = {k.lower(): v.lower() for k, v in machine.tags.items()}
        return all(tags.get(k.lower()) == v.lower() for k, v in self.production_tags.items())

    def tag_names(self) -> frozenset[str]:
        """Lower-cased names of the tags worth keeping in the inventory."""
        names = {k.lower() for k in self.production_tags}
        if self.owner_tag:
            names.add(self.owner_tag.lower())
        return frozenset(names)


def rules_of(policy: Policy) -> ConsumerRules:
    section = policy.consumers
    return ConsumerRules(section.owner_tag, dict(section.production_tags))


@dataclass(frozen=True)
class Consumer:
    id: str
    kind: str
    subscription: str
    region: str
    via: str
    owner: str | None
    production: bool

    def to_json(self) -> dict[str, Any]:
        return asdict(self)  # the fields, in their order


@dataclass(frozen=True)
class LatestInProduction:
    id: str
    kind: str
    subscription: str
    region: str
    image: str
    via: str
    owner: str | None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)  # the fields, in their order


@dataclass(frozen=True)
class Consumers:
    """Per version (lower-cased id key -> its id and consumers), and production machines on `latest`."""

    versions: Mapping[str, tuple[str, tuple[Consumer, ...]]]
    latest_in_production: tuple[LatestInProduction, ...]

    def of(self, version: VersionRef) -> tuple[Consumer, ...]:
        found = self.versions.get(version.key())
        return found[1] if found else ()

    def to_json(self, only: VersionRef | None = None) -> dict[str, Any]:
        keys = sorted(self.versions) if only is None else [only.key()]
        listed = []
        for key in keys:
            version_id, consumers = self.versions.get(key, (only.id if only else key, ()))
            listed.append({"version": version_id, "consumers": [c.to_json() for c in consumers]})
        return {
            "versions": listed,
            "latest_in_production": [m.to_json() for m in self.latest_in_production],
        }


def consumers(
    machines: Iterable[Machine],
    names: GalleryNames,
    rules: ConsumerRules,
    in_scope: Any = None,
) -> Consumers:
    """Every version's consumers, and the production machines on `latest`. A scale set is listed under each
    version its instances run (and under its version when it names one); `in_scope(image)` (optional)
    keeps only the images the policy covers."""
    listed = list(machines)
    parents = {m.id.lower(): m for m in listed if m.kind == SCALE_SET}
    by_version: dict[str, tuple[str, dict[str, Consumer]]] = {}
    latest: list[LatestInProduction] = []

    def add(version: VersionRef, machine: Machine, via: str) -> None:
        owner_machine = parents.get((machine.scale_set or "").lower(), machine)
        entry = Consumer(
            machine.id,
            machine.kind,
            machine.subscription,
            machine.region,
            via,
            rules.owner(owner_machine) or rules.owner(machine),
            rules.production(owner_machine) or rules.production(machine),
        )
        slot = by_version.setdefault(version.key(), (version.id, {}))
        slot[1].setdefault(machine.id.lower(), entry)

    for machine in listed:
        use = resolve(machine.reference, names)
        if use is None or (in_scope is not None and not in_scope(use.image)):
            continue
        if use.follows_latest and machine.kind != INSTANCE and rules.production(machine):
            latest.append(
                LatestInProduction(
                    machine.id,
                    machine.kind,
                    machine.subscription,
                    machine.region,
                    use.image.id,
                    use.via,
                    rules.owner(machine),
                )
            )
        if use.version is None:
            continue
        add(use.version, machine, use.via)
        if machine.kind == INSTANCE and machine.scale_set and machine.scale_set.lower() in parents:
            add(use.version, parents[machine.scale_set.lower()], use.via)
    ordered = {
        key: (version_id, tuple(sorted(found.values(), key=lambda c: (c.kind != VM, c.id.lower()))))
        for key, (version_id, found) in by_version.items()
    }
    return Consumers(MappingProxyType(ordered), tuple(sorted(latest, key=lambda m: m.id.lower())))


# -- warnings before end-of-life ------------------------------------------------------------------------
def expiring(
    image: ObservedImage,
    now: datetime,
    warn_days: int | None,
    consumers_of: Mapping[str, tuple[Consumer, ...]],
    warned: Mapping[str, str],
) -> tuple[list[Notification], dict[str, str]]:
    """VersionExpiring for each version whose end-of-life is within `warn_days` and that machines run, once
    per version and end-of-life date (`warned` remembers the date warned of; a moved date warns again).
    Returns the events and what to remember (only versions that still exist)."""
    remembered = {name: day for name, day in warned.items() if image.version(name) is not None}
    if warn_days is None:
        return [], remembered
    events: list[Notification] = []
    horizon = now + timedelta(days=warn_days)
    for version in image.versions:
        eol = version.end_of_life
        if eol is None or not now <= eol <= horizon:
            continue
        running = consumers_of.get(version.name, ())
        day = eol.date().isoformat()
        if not running or remembered.get(version.name) == day:
            continue
        owners = sorted({c.owner for c in running if c.owner})
        events.append(
            Notification(
                NotificationType.VERSION_EXPIRING,
                version.ref.id,
                {
                    "imageVersionId": version.ref.id,
                    "endOfLifeDate": iso(eol),
                    "consumers": len({c.id.lower() for c in running if c.kind != SCALE_SET}),
                    "owners": owners,
                },
            )
        )
        remembered[version.name] = day
    return events, remembered


def expiring_soon(image: ObservedImage, now: datetime, warn_days: int | None) -> bool:
    """Whether any version's end-of-life falls within the warning window (then the consumers are needed)."""
    if warn_days is None:
        return False
    horizon = now + timedelta(days=warn_days)
    return any(v.end_of_life is not None and now <= v.end_of_life <= horizon for v in image.versions)


def by_version_name(found: Consumers, image: ImageRef) -> dict[str, tuple[Consumer, ...]]:
    """The consumers of one image's versions, by version name."""
    prefix = f"{image.key()}/versions/"
    return {key[len(prefix) :]: entry[1] for key, entry in found.versions.items() if key.startswith(prefix)}
