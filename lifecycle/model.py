"""Value objects shared by every layer: resource references, observed versions and images, UTC time.

Nothing here imports Azure SDKs; gateways translate SDK models into these.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from lifecycle.regions import normalize_region

# Each segment is held to Azure's naming rules, not just "no slash": a name is pasted into ARM request
# paths, so `..`, `?`, `#`, `%`, spaces or control characters in a policy or an event would address something
# else. Sources: learn.microsoft.com, "Naming rules and restrictions for Azure resources", and the Bicep
# references of Microsoft.Compute/galleries and galleries/images. A subscription id is a GUID; a resource
# group has 1-90 letters, digits, underscores, hyphens, periods and parentheses and does not end with a
# period; a gallery has 1-80 alphanumerics and periods (underscores, which the API accepts, are kept here);
# an image 1-80 alphanumerics, underscores, hyphens and periods. Both start and end with an alphanumeric
# (an underscore is allowed at the ends: the stricter reading would refuse names the API has accepted).
SUBSCRIPTION_PATTERN = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
RESOURCE_GROUP_PATTERN = r"[\w\-.()]{0,89}[\w\-()]"
NAME_PATTERN = r"[A-Za-z0-9_](?:[A-Za-z0-9_.\-]{0,78}[A-Za-z0-9_])?"
_GALLERY_ID = re.compile(
    rf"^/subscriptions/(?P<sub>{SUBSCRIPTION_PATTERN})/resourceGroups/(?P<rg>{RESOURCE_GROUP_PATTERN})"
    rf"/providers/Microsoft\.Compute/galleries/(?P<gallery>{NAME_PATTERN})"
    rf"(?:/images/(?P<image>{NAME_PATTERN})(?:/versions/(?P<version>[^/]+))?)?/?$",
    re.IGNORECASE,
)
# The same shape with any segment: tells a misnamed segment (say `galleries/g?x=1`) from a wrong id.
_LOOSE_ID = re.compile(
    r"^/subscriptions/(?P<sub>[^/]*)/resourceGroups/(?P<rg>[^/]*)"
    r"/providers/Microsoft\.Compute/galleries/(?P<gallery>[^/]*)"
    r"(?:/images/(?P<image>[^/]*)(?:/versions/(?P<version>[^/]*))?)?/?$",
    re.IGNORECASE,
)
_NAME_RULE = "1-80 letters, digits, _ - ., starting and ending with a letter, digit or _"
_SEGMENTS = (
    ("sub", SUBSCRIPTION_PATTERN, "subscription id", "a GUID"),
    ("rg", RESOURCE_GROUP_PATTERN, "resource group", "1-90 letters, digits, _ - . ( ), not ending with '.'"),
    ("gallery", NAME_PATTERN, "gallery name", _NAME_RULE),
    ("image", NAME_PATTERN, "image name", _NAME_RULE),
)
_VERSION_NAME = re.compile(r"^\d+\.\d+\.\d+$")


class InvalidResourceId(ValueError):
    """A resource id that is not a gallery, image definition or image version id."""


def utc(value: datetime) -> datetime:
    """Return an aware UTC datetime; naive values are taken as UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def parse_time(text: str) -> datetime:
    """Parse an ISO 8601 timestamp (with `Z` or an offset, or a bare date) into aware UTC."""
    cleaned = text.strip()
    if cleaned.endswith(("Z", "z")):
        cleaned = cleaned[:-1] + "+00:00"
    # Python's parser takes at most 6 fractional digits; ARM sends 7.
    cleaned = re.sub(r"(\.\d{6})\d+", r"\1", cleaned)
    return utc(datetime.fromisoformat(cleaned))


def iso(value: datetime) -> str:
    """ISO 8601 in UTC with a `Z`, to the second (ARM's dates need no more)."""
    return utc(value).replace(microsecond=0).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True, order=True)
class GalleryRef:
    subscription: str
    resource_group: str
    gallery: str

    @property
    def id(self) -> str:
        return (
            f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}"
            f"/providers/Microsoft.Compute/galleries/{self.gallery}"
        )

    def key(self) -> str:
        return self.id.lower()

    def image(self, name: str) -> ImageRef:
        return ImageRef(self.subscription, self.resource_group, self.gallery, name)


@dataclass(frozen=True, order=True)
class ImageRef:
    subscription: str
    resource_group: str
    gallery: str
    image: str

    @property
    def gallery_ref(self) -> GalleryRef:
        return GalleryRef(self.subscription, self.resource_group, self.gallery)

    @property
    def id(self) -> str:
        return f"{self.gallery_ref.id}/images/{self.image}"

    def key(self) -> str:
        return self.id.lower()

    def version(self, name: str) -> VersionRef:
        return VersionRef(self, name)


@dataclass(frozen=True, order=True)
class VersionRef:
    image_ref: ImageRef
    name: str

    @property
    def id(self) -> str:
        return f"{self.image_ref.id}/versions/{self.name}"

    def key(self) -> str:
        return self.id.lower()


def parse_resource_id(resource_id: str) -> GalleryRef | ImageRef | VersionRef:
    """Parse a gallery, image definition or image version id (case-insensitive segment names)."""
    match = _GALLERY_ID.match(resource_id.strip()) if isinstance(resource_id, str) else None
    if not match:
        raise InvalidResourceId(_why_invalid(resource_id))
    gallery = GalleryRef(match["sub"], match["rg"], match["gallery"])
    if match["image"] is None:
        return gallery
    image = gallery.image(match["image"])
    if match["version"] is None:
        return image
    if not _VERSION_NAME.match(match["version"]):
        raise InvalidResourceId(
            f"image version name must be MAJOR.MINOR.PATCH, got {match['version']!r} in {resource_id!r}"
        )
    return image.version(match["version"])


def _why_invalid(resource_id: object) -> str:
    text = repr(resource_id) if len(repr(resource_id)) <= 300 else repr(resource_id)[:300] + "..."
    loose = _LOOSE_ID.match(resource_id.strip()) if isinstance(resource_id, str) else None
    if loose:
        for group, pattern, what, rule in _SEGMENTS:
            value = loose[group]
            if value is not None and not re.fullmatch(pattern, value):
                shown = repr(value) if len(value) <= 100 else repr(value[:100]) + "..."
                return f"{what} {shown} is not a valid Azure name ({rule}) in {text}"
    return f"not a Compute Gallery resource id: {text}"


def parse_version_id(resource_id: str) -> VersionRef:
    ref = parse_resource_id(resource_id)
    if not isinstance(ref, VersionRef):
        raise InvalidResourceId(f"not an image version id: {resource_id!r}")
    return ref


def version_key(name: str) -> tuple[int, ...]:
    """Sort key for MAJOR.MINOR.PATCH version names (numeric order, as `latest` uses)."""
    try:
        return tuple(int(part) for part in name.split("."))
    except ValueError:
        return (-1,)


class ProvisioningState(StrEnum):
    CREATING = "Creating"
    UPDATING = "Updating"
    DELETING = "Deleting"
    MIGRATING = "Migrating"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"

    @classmethod
    def parse(cls, value: str | None) -> ProvisioningState:
        for member in cls:
            if value and member.value.lower() == value.lower():
                return member
        return cls.SUCCEEDED if value is None else cls.FAILED if value.lower() == "failed" else cls.UPDATING

    @property
    def busy(self) -> bool:
        """A version in this state cannot be written (ARM answers 409)."""
        return self in {self.CREATING, self.UPDATING, self.DELETING, self.MIGRATING}


class ReplicationState(StrEnum):
    UNKNOWN = "Unknown"
    REPLICATING = "Replicating"
    COMPLETED = "Completed"
    FAILED = "Failed"


# The fields of a target region this app decides; every other field of an observed region (encryption,
# additionalReplicaSets, whatever a later api-version adds) is carried through updates untouched, because an
# update replaces the whole `targetRegions` array and whatever it omits is gone.
OWNED_REGION_FIELDS = frozenset({"name", "regionalReplicaCount", "storageAccountType", "excludeFromLatest"})


def _deep_frozen(value: Any) -> Any:
    if isinstance(value, Mapping):
        return MappingProxyType({str(k): _deep_frozen(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(_deep_frozen(v) for v in value)
    return value


def thawed(value: Any) -> Any:
    """A plain JSON-able copy of a value frozen by this module."""
    if isinstance(value, Mapping):
        return {k: thawed(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [thawed(v) for v in value]
    return value


@dataclass(frozen=True)
class TargetRegion:
    """One entry of `publishingProfile.targetRegions`; `name` is the normalized region name.

    `extra` holds the region's other fields as ARM reported them (wire names, deeply frozen), so that an
    update sends them back unchanged. It takes no part in equality.
    """

    name: str
    replica_count: int | None = None
    storage_account_type: str | None = None
    exclude_from_latest: bool | None = None
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", normalize_region(self.name))
        object.__setattr__(
            self, "extra", _deep_frozen({k: v for k, v in self.extra.items() if k not in OWNED_REGION_FIELDS})
        )

    @property
    def encryption(self) -> Mapping[str, Any] | None:
        """The region's customer-managed key settings (`encryption`), if any."""
        value = self.extra.get("encryption")
        return value if isinstance(value, Mapping) and value else None


@dataclass(frozen=True)
class RegionStatus:
    region: str
    state: ReplicationState
    progress: int | None = None
    details: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "region", normalize_region(self.region))


@dataclass(frozen=True)
class PlatformValidation:
    """One entry of `validationsProfile.executedValidations`: a check the platform ran on the version."""

    type: str
    status: str  # Unknown | Failed | Succeeded (ValidationStatus, modelAsString: others may come)
    version: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.status.lower() == "succeeded"

    @property
    def failed(self) -> bool:
        return self.status.lower() == "failed"

    def describe(self) -> str:
        return f"{self.type}{' ' + self.version if self.version else ''}: {self.status}"


@dataclass(frozen=True)
class PolicyViolation:
    """One entry of `safetyProfile.policyViolations`: what Azure reported against the version."""

    category: str  # Other | ImageFlaggedUnsafe | CopyrightValidation | IpTheft
    details: str | None = None

    def describe(self) -> str:
        return self.category + (f" ({self.details})" if self.details else "")


_DEPRECATING = ("scheduledfordeprecation", "deprecated")


@dataclass(frozen=True)
class ImageDeprecation:
    """A Marketplace image version's `imageDeprecationStatus` (ComputeRP): Active, ScheduledForDeprecation
    or Deprecated, with the date and the alternative Azure names."""

    base: str  # publisher:offer:sku:version
    state: str = "Active"
    scheduled: datetime | None = None
    alternative: str | None = None  # "<type> <value>", e.g. "Offer ubuntu-26_04-lts"

    @property
    def deprecating(self) -> bool:
        return self.state.lower() in _DEPRECATING

    @property
    def key(self) -> str:
        """Identifies one base in one state: a rebake and an announcement are made once per key."""
        return f"{self.base.lower()}|{self.state.lower()}"

    def describe(self) -> str:
        parts = [f"base image {self.base} is {self.state}"]
        if self.scheduled is not None:
            parts.append(f"deprecation date {iso(self.scheduled)}")
        if self.alternative:
            parts.append(f"alternative: {self.alternative}")
        return parts[0] + (f" ({'; '.join(parts[1:])})" if len(parts) > 1 else "")

    def to_event(self, image_id: str) -> dict[str, Any]:
        return {
            "imageId": image_id,
            "baseImage": self.base,
            "imageState": self.state,
            "scheduledDeprecationTime": iso(self.scheduled) if self.scheduled else None,
            "alternativeOption": self.alternative,
        }


def _frozen(mapping: Mapping[str, str] | None) -> Mapping[str, str]:
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True)
class ObservedVersion:
    """An image version as ARM reports it (re-read every time, never trusted from an event)."""

    ref: VersionRef
    location: str
    provisioning_state: ProvisioningState = ProvisioningState.SUCCEEDED
    published: datetime | None = None
    end_of_life: datetime | None = None
    exclude_from_latest: bool = False
    target_regions: tuple[TargetRegion, ...] = ()
    replica_count: int | None = None
    storage_account_type: str | None = None
    replication_mode: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    replication_state: ReplicationState | None = None
    region_status: tuple[RegionStatus, ...] = ()
    allow_deletion_of_replicated_locations: bool = False
    block_deletion_before_end_of_life: bool | None = None
    etag: str | None = None
    # OS disk plus data disks, GiB (`storageProfile.*.sizeInGB`); None when ARM does not report it.
    size_gb: float | None = None
    # What the platform says: `validationsProfile.executedValidations` (None: not read, it comes only with a
    # GET that expands ValidationProfile) and `safetyProfile.reportedForPolicyViolation` / `policyViolations`.
    validations: tuple[PlatformValidation, ...] | None = None
    reported_for_policy_violation: bool = False
    policy_violations: tuple[PolicyViolation, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "location", normalize_region(self.location))
        object.__setattr__(self, "tags", _frozen(self.tags))
        if self.published is not None:
            object.__setattr__(self, "published", utc(self.published))
        if self.end_of_life is not None:
            object.__setattr__(self, "end_of_life", utc(self.end_of_life))

    @property
    def name(self) -> str:
        return self.ref.name

    @property
    def healthy(self) -> bool:
        return self.provisioning_state is not ProvisioningState.FAILED

    @property
    def replicated(self) -> bool | None:
        """Whether every target region reports Completed: None when unknown (no replication status was
        read). `provisioningState` Succeeded is not enough: a region can still be Replicating after the
        operation succeeded (Azure/AgentBaker#8373)."""
        if self.provisioning_state is not ProvisioningState.SUCCEEDED:
            return False
        if not self.region_status:
            return None
        wanted = {r.name for r in self.target_regions} or {self.location}
        done = {s.region for s in self.region_status if s.state is ReplicationState.COMPLETED}
        return wanted <= done

    @property
    def fully_replicated(self) -> bool:
        """Known to be replicated: every target region reports Completed."""
        return self.replicated is True

    @property
    def failed_regions(self) -> tuple[str, ...]:
        """Target regions whose replication state is Failed (from the replication status, when read)."""
        wanted = {r.name for r in self.target_regions} or {self.location}
        return tuple(
            sorted({s.region for s in self.region_status if s.state is ReplicationState.FAILED} & wanted)
        )

    @property
    def encrypted(self) -> bool:
        """Encrypted with customer-managed keys: some target region carries `encryption`."""
        return any(r.encryption for r in self.target_regions)

    def region(self, name: str) -> TargetRegion | None:
        wanted = normalize_region(name)
        return next((r for r in self.target_regions if r.name == wanted), None)


@dataclass(frozen=True)
class SoftDeleted:
    """A soft-deleted version, restorable until Azure purges it (`purge_at`, its hard-deletion time)."""

    ref: VersionRef
    deleted: datetime | None = None
    purge_at: datetime | None = None

    def to_json(self) -> dict[str, str | None]:
        return {
            "id": self.ref.id,
            "version": self.ref.name,
            "deleted": iso(self.deleted) if self.deleted else None,
            "purge_at": iso(self.purge_at) if self.purge_at else None,
        }


@dataclass(frozen=True)
class ObservedImage:
    """An image definition and all of its versions, newest last (by version order)."""

    ref: ImageRef
    location: str
    versions: tuple[ObservedVersion, ...] = ()
    tags: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "location", normalize_region(self.location))
        object.__setattr__(self, "tags", _frozen(self.tags))
        object.__setattr__(self, "versions", tuple(sorted(self.versions, key=lambda v: version_key(v.name))))

    def version(self, name: str) -> ObservedVersion | None:
        return next((v for v in self.versions if v.name == name), None)


@dataclass(frozen=True)
class GallerySharing:
    """How a gallery is shared (`sharingProfile`) and the names consumers outside it use for it.

    `unique_name` is `identifier.uniqueName`, the gallery's name in `sharedGalleryImageId`
    (`/SharedGalleries/<uniqueName>/Images/<image>/Versions/<v>`); `public_names` are
    `sharingProfile.communityGalleryInfo.publicNames`, its names in `communityGalleryImageId`.
    """

    permissions: str = "Private"  # Private | Groups | Community
    unique_name: str | None = None
    public_names: tuple[str, ...] = ()

    @property
    def beyond_subscription(self) -> bool:
        """Shared with other subscriptions or tenants (Groups) or with everyone (Community): consumers the
        app cannot list may use its versions."""
        return self.permissions.strip().lower() != "private"


@dataclass(frozen=True)
class GalleryInfo:
    """What one read of a gallery says: its soft delete (enabled, days a deleted version stays restorable
    when ARM says) and its sharing."""

    soft_delete: tuple[bool, int | None]
    sharing: GallerySharing


@dataclass(frozen=True)
class ImageUsage:
    """Which versions running VMs and scale sets reference, by exact id or through `latest`.

    Ids are lower-cased keys. `image_ids` holds image definitions referenced without a version
    (that is, `latest`), which protects whatever version `latest` resolves to.
    """

    version_ids: frozenset[str] = frozenset()
    image_ids: frozenset[str] = frozenset()
    complete: bool = True
    problem: str | None = None  # why the check is incomplete (a denied list names action and scope)
    # Version key -> regions where a machine runs it (a region there is never shrunk away).
    running_regions: Mapping[str, frozenset[str]] = field(default_factory=dict, hash=False)
    # Version key -> region -> VMs on it plus the capacity of scale sets that name it exactly.
    demand: Mapping[str, Mapping[str, int]] = field(default_factory=dict, hash=False)
    # Image key -> region -> capacity of the scale sets that follow its `latest`.
    latest_demand: Mapping[str, Mapping[str, int]] = field(default_factory=dict, hash=False)

    def references(self, version: VersionRef) -> bool:
        return version.key() in self.version_ids

    def references_latest_of(self, image: ImageRef) -> bool:
        return image.key() in self.image_ids

    def regions_running(self, version: VersionRef) -> frozenset[str]:
        return self.running_regions.get(version.key(), frozenset())

    def demand_in(self, version: VersionRef, region: str, *, newest: bool) -> int:
        """Machines that deploy `version` in `region`; scale sets on `latest` count toward the newest."""
        count = self.demand.get(version.key(), {}).get(region, 0)
        if newest:
            count += self.latest_demand.get(version.image_ref.key(), {}).get(region, 0)
        return count


# Image Builder run states (`lastRunStatus.runState`), by what they mean for a rebake.
_RUN_ACTIVE = {"running", "canceling"}
_RUN_SUCCEEDED = {"succeeded", "partiallysucceeded"}
_RUN_FAILED = {"failed", "canceled"}


@dataclass(frozen=True)
class RunObservation:
    """The template's `lastRunStatus` as Image Builder reports it."""

    state: str | None  # Running | Succeeded | Failed | Canceled | PartiallySucceeded | None (never ran)
    started: datetime | None = None
    ended: datetime | None = None
    message: str | None = None
    sub_state: str | None = None

    @property
    def kind(self) -> str:
        """never | active | succeeded | failed | unknown (a state this module does not know, such as the
        `Unknown` a reader passes when the template could not be read)."""
        if self.state is None:
            return "never"
        value = self.state.lower()
        if value in _RUN_ACTIVE:
            return "active"
        if value in _RUN_SUCCEEDED:
            return "succeeded"
        if value in _RUN_FAILED:
            return "failed"
        return "unknown"

    @property
    def marker(self) -> str:
        """Identifies one run status, so that the same finished run is accounted for once."""
        started = iso(self.started) if self.started else "-"
        ended = iso(self.ended) if self.ended else "-"
        return f"{self.state or 'NeverRun'} {started}..{ended}"
