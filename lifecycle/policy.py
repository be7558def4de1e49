"""The lifecycle policy document: schema, validation with key paths, and the merge of defaults per image.

Ops teams edit this document in Blob Storage. A document that fails validation never takes effect; the
error names every bad key path and value.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, TypeVar

import yaml
from croniter import croniter
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from lifecycle.model import (
    NAME_PATTERN,
    RESOURCE_GROUP_PATTERN,
    SUBSCRIPTION_PATTERN,
    GalleryRef,
    ImageRef,
    InvalidResourceId,
    parse_resource_id,
)
from lifecycle.regions import is_known_region, normalize_region, suggest_region

StorageAccountType = Literal["Standard_LRS", "Standard_ZRS", "Premium_LRS", "PremiumV2_LRS"]
# Held to the same naming rules as gallery ids (lifecycle.model): the id is pasted into ARM request paths.
_IMAGE_TEMPLATE_ID = re.compile(
    rf"^/subscriptions/{SUBSCRIPTION_PATTERN}/resourceGroups/{RESOURCE_GROUP_PATTERN}"
    rf"/providers/Microsoft\.VirtualMachineImages/imageTemplates/{NAME_PATTERN}\Z",
    re.IGNORECASE,
)
_DISK_ENCRYPTION_SET_ID = re.compile(
    r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.Compute/diskEncryptionSets/[^/]+$",
    re.IGNORECASE,
)
# An Event Grid custom topic: what the Event Grid schema stamps as `topic` (names: 3-50 letters, digits and
# hyphens; resource group names as ARM allows them). Not a domain topic: a domain's publisher names the domain
# topic in each event, so Data Sender on the domain reaches all of them and the stamp vouches for nobody.
_EVENT_GRID_TOPIC_ID = re.compile(
    r"^/subscriptions/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
    r"/resourceGroups/[-\w.()]{1,90}/providers/Microsoft\.EventGrid/topics/[A-Za-z0-9-]{3,50}/?\Z",
    re.IGNORECASE,
)
_TAG_NAME_FORBIDDEN = set("<>%&\\?/")
_SUBSCRIPTION_ID = re.compile(
    r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE
)

# Bounds on a policy document, enforced before and while it is parsed, so a hostile or broken blob is refused
# in well under a second and a few MB instead of exhausting the worker: a real policy is a few KB, nests a
# handful of levels, and has no reason to expand to many nodes through YAML aliases ("billion laughs").
MAX_POLICY_BYTES = 1024 * 1024
MAX_POLICY_DEPTH = 32
MAX_POLICY_NODES = 100_000
MAX_PROBLEMS = 50  # a rejection names at most this many key paths (it travels in a ConfigRejected event)
_IMAGE_PATTERN = re.compile(r"^[A-Za-z0-9_.\-*?\[\]!]{1,80}\Z")


_S = TypeVar("_S", bound="_Section")


class PolicyError(ValueError):
    """A policy document that cannot take effect; `problems` holds one line per bad key path."""

    def __init__(self, problems: list[str], source: str = "policy") -> None:
        self.problems = problems
        self.source = source
        super().__init__(f"{source} is invalid: " + "; ".join(problems))


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


ReplicaCount = Annotated[int, Field(ge=1, le=100)] | Literal["auto"]


def _region_counts(value: Mapping[str, Any], *, auto: bool) -> dict[str, Any]:
    normalized: dict[str, Any] = {}
    for name, count in value.items():
        if not is_known_region(name):
            hint = suggest_region(name)
            suffix = f" (did you mean {hint!r}?)" if hint else ""
            raise ValueError(f"unknown region {name!r}{suffix}")
        if count == "auto" and not auto:
            raise ValueError(f"region {name!r}: 'auto' is for replication.regions, not here")
        key = normalize_region(name)
        if key in normalized:
            raise ValueError(f"region {name!r} is listed twice")
        normalized[key] = count
    return normalized


class OlderReplication(_Section):
    """Where versions past the newest N healthy ones keep their replicas (`replication.older`)."""

    after_newest: Annotated[int, Field(ge=1, le=1000)] = Field(
        description="The newest N healthy versions keep the full `regions`; older ones shrink."
    )
    regions: dict[str, Annotated[int, Field(ge=1, le=100)]] = Field(
        description="Region -> replica count for older versions. Other regions are removed (where the "
        "version's allowDeletionOfReplicatedLocations allows it) unless a machine there runs the version; "
        "the home region always stays."
    )

    @field_validator("regions")
    @classmethod
    def _known_regions(cls, value: dict[str, int]) -> dict[str, int]:
        return _region_counts(value, auto=False)


class Replication(_Section):
    regions: dict[str, ReplicaCount] = Field(
        default_factory=dict,
        description="Region name -> replica count, or `auto`: ceil(demand / 20) replicas (at least 1, at "
        "most replicas_max), demand being the VMs and scale-set capacity in that region that deploy the "
        "version. The version's home region is always kept.",
    )
    older: OlderReplication | None = Field(
        default=None,
        description="Shrink versions past the newest N healthy ones to fewer regions and replicas.",
    )
    replicas_max: Annotated[int, Field(ge=1, le=100)] = Field(
        default=10, description="The most replicas an `auto` region gets."
    )
    storage_account_type: StorageAccountType | None = Field(
        default=None, description="Storage account type for regions this app adds; null leaves it to Azure."
    )
    prune_regions: bool = Field(
        default=False, description="Remove target regions the policy no longer names (where Azure allows)."
    )
    promote_when_replicated: bool = Field(
        default=False,
        description="Keep a new version out of `latest` until every target region reports Completed.",
    )
    # Healing a failed region, as Azure's own error text advises: update the version again, and if that
    # does not work, remove the region in one update and add it back in the next.
    retry_backoff_minutes: Annotated[int, Field(ge=0, le=1440)] = Field(
        default=30,
        description="Wait after a region's failure before the next healing write; doubles with every "
        "failure of the region, up to a day.",
    )
    remove_readd_after: Annotated[int, Field(ge=1, le=10)] = Field(
        default=2,
        description="Failures of a region (the first included) after which it is removed in one update "
        "and added back in the next instead of retried; failing after that, ReplicationFailed is published.",
    )
    disk_encryption_sets: dict[str, str] = Field(
        default_factory=dict,
        description="Region -> disk encryption set id, for regions added to a version encrypted with "
        "customer-managed keys. A region without one is not added to such a version.",
    )

    @field_validator("disk_encryption_sets")
    @classmethod
    def _valid_encryption_sets(cls, value: dict[str, str]) -> dict[str, str]:
        normalized: dict[str, str] = {}
        for name, des in value.items():
            if not is_known_region(name):
                hint = suggest_region(name)
                suffix = f" (did you mean {hint!r}?)" if hint else ""
                raise ValueError(f"unknown region {name!r}{suffix}")
            if not _DISK_ENCRYPTION_SET_ID.match(des):
                raise ValueError(f"{des!r} for region {name!r} is not a disk encryption set resource id")
            key = normalize_region(name)
            if key in normalized:
                raise ValueError(f"region {name!r} is listed twice")
            normalized[key] = des
        return normalized

    @field_validator("regions", mode="before")
    @classmethod
    def _counts_or_auto(cls, value: Any) -> Any:
        if isinstance(value, Mapping):
            for name, count in value.items():
                whole = isinstance(count, int) and not isinstance(count, bool) and 1 <= count <= 100
                if not whole and count != "auto":
                    raise ValueError(
                        f"region {name!r}: {count!r} is neither a replica count (1-100) nor 'auto'"
                    )
        return value

    @field_validator("regions")
    @classmethod
    def _known_regions(cls, value: dict[str, Any]) -> dict[str, Any]:
        return _region_counts(value, auto=True)


class Metadata(_Section):
    tags: dict[str, str] = Field(default_factory=dict, description="Static tags merged onto every version.")
    await_build_minutes: Annotated[int, Field(ge=0, le=1440)] | None = Field(
        default=None,
        description=(
            "Hold a new version's first write for up to N minutes after it was published, until its "
            "BuildCompleted arrives, so the build tags go out in the same write; null or 0 = write at once."
        ),
    )

    @field_validator("tags")
    @classmethod
    def _valid_tags(cls, value: dict[str, str]) -> dict[str, str]:
        if len(value) > 40:
            raise ValueError(f"{len(value)} static tags; at most 40 leave room for the lifecycle tags")
        for name, tag_value in value.items():
            if not name or len(name) > 512 or set(name) & _TAG_NAME_FORBIDDEN:
                raise ValueError(f"tag name {name!r} is not allowed (1-512 chars, none of <>%&\\?/)")
            if name.lower().startswith("lifecycle."):
                raise ValueError(f"tag name {name!r} is reserved: lifecycle.* tags are owned by the app")
            if len(tag_value) > 256:
                raise ValueError(f"tag {name!r} value is {len(tag_value)} chars; Azure allows 256")
        return value


class Retention(_Section):
    lifetime_days: Annotated[int, Field(ge=1)] | None = Field(
        default=None, description="End-of-life = published + lifetime; null = no end-of-life is set."
    )
    keep_latest: Annotated[int, Field(ge=1)] = Field(
        default=3, description="The newest N healthy versions are never expired nor deleted."
    )
    delete_after_days: Annotated[int, Field(ge=0)] | None = Field(
        default=None, description="Delete N days after end-of-life; null = never delete."
    )
    max_deletes_per_run: Annotated[int, Field(ge=0)] = Field(
        default=10, description="At most this many deletes in one run, across all images."
    )
    delete_failed_after_days: Annotated[int, Field(ge=0)] | None = Field(
        default=None, description="Delete versions whose provisioning failed, N days after publish."
    )
    cap_at_base_deprecation: bool = Field(
        default=False,
        description=(
            "A version's end-of-life is no later than its Marketplace base image's scheduledDeprecationTime."
        ),
    )


class Rebake(_Section):
    schedule: str | None = Field(default=None, description="Cron (5 fields, UTC) of scheduled rebakes.")
    max_age_days: Annotated[int, Field(ge=1)] | None = Field(
        default=None, description="Also rebake when the newest healthy version is older than this."
    )
    image_template: str | None = Field(default=None, description="Azure Image Builder template id to run.")
    publish_event: bool = Field(
        default=False, description="Publish ImageLifecycle.RebakeRequested for a pipeline to build."
    )
    on_base_update: bool = Field(
        default=False,
        description="Also rebake when the base image (lifecycle.base-image) of the newest version moved on.",
    )
    on_base_deprecation: bool = Field(
        default=False,
        description=(
            "Also rebake when the newest version's Marketplace base image is ScheduledForDeprecation or "
            "Deprecated (imageDeprecationStatus)."
        ),
    )

    @field_validator("schedule")
    @classmethod
    def _valid_cron(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if len(value.split()) != 5 or not croniter.is_valid(value):
            raise ValueError(f"{value!r} is not a 5-field cron expression (minute hour day month weekday)")
        return value

    @field_validator("image_template")
    @classmethod
    def _valid_template(cls, value: str | None) -> str | None:
        if value is not None and not _IMAGE_TEMPLATE_ID.match(value):
            raise ValueError(f"{value!r} is not an Image Builder template resource id")
        return value

    @model_validator(mode="after")
    def _one_trigger(self) -> Rebake:
        if self.image_template and self.publish_event:
            raise ValueError("set either image_template or publish_event, not both")
        if (self.schedule or self.max_age_days or self.on_base_update or self.on_base_deprecation) and not (
            self.image_template or self.publish_event
        ):
            raise ValueError(
                "a rebake schedule, max_age_days, on_base_update or on_base_deprecation needs image_template "
                "or publish_event: true"
            )
        return self


class Approval(_Section):
    required: bool = Field(
        default=False,
        description="A new version stays out of `latest` (lifecycle.state=pending-approval) until approved.",
    )
    require_platform_validation: bool = Field(
        default=False,
        description=(
            "A new version stays out of `latest` (lifecycle.state=pending-validation) until every platform "
            "validation (validationsProfile.executedValidations) Succeeded."
        ),
    )


class Ancestry(_Section):
    inherit_revocation: bool = Field(
        default=False,
        description="Revoking a version also revokes the versions built on it (lifecycle.base-image).",
    )


class Consumers(_Section):
    """Who runs what (the `consumers` command, VersionExpiring, the report's consumers at risk)."""

    owner_tag: str | None = Field(
        default=None, description="Tag on a VM or scale set naming who owns it; null: owners are not shown."
    )
    production_tags: dict[str, str] = Field(
        default_factory=dict,
        description="Tags (all of them) that mark production machines, e.g. {env: prod}; compared "
        "case-insensitively, as ARM compares tag names.",
    )
    warn_days: Annotated[int, Field(ge=1, le=365)] | None = Field(
        default=None,
        description="Publish VersionExpiring this many days before a version's end-of-life when machines "
        "run it; null = off.",
    )

    @field_validator("owner_tag")
    @classmethod
    def _owner_tag(cls, value: str | None) -> str | None:
        if value is not None and (not value or len(value) > 512 or set(value) & _TAG_NAME_FORBIDDEN):
            raise ValueError(f"tag name {value!r} is not allowed (1-512 chars, none of <>%&\\?/)")
        return value

    @field_validator("production_tags")
    @classmethod
    def _production_tags(cls, value: dict[str, str]) -> dict[str, str]:
        seen: set[str] = set()
        for name, tag_value in value.items():
            if not name or len(name) > 512 or set(name) & _TAG_NAME_FORBIDDEN:
                raise ValueError(f"tag name {name!r} is not allowed (1-512 chars, none of <>%&\\?/)")
            if len(tag_value) > 256:
                raise ValueError(f"tag {name!r} value is {len(tag_value)} chars; Azure allows 256")
            if name.lower() in seen:
                raise ValueError(f"tag {name!r} is listed twice (tag names are case-insensitive)")
            seen.add(name.lower())
        return value


class ImageSettings(_Section):
    """Settings for images; in `defaults` every section applies, per image only the sections given."""

    replication: Replication | None = None
    metadata: Metadata | None = None
    retention: Retention | None = None
    rebake: Rebake | None = None
    approval: Approval | None = None
    ancestry: Ancestry | None = None


class GalleryPolicy(_Section):
    id: str = Field(description="Resource id of the Compute Gallery.")
    images: dict[str, ImageSettings] = Field(
        default_factory=lambda: {"*": ImageSettings()},
        description='Image name or glob ("*") -> overrides. Images matched by none are never touched.',
    )
    build_sources: list[str] = Field(
        default_factory=list,
        description=(
            "Event Grid topic resource ids whose Event Grid-schema BuildCompleted events may tag this "
            "gallery's versions (Event Grid stamps `topic`; a CloudEvents `source` is not trusted). Empty: "
            "any sender in either schema (open mode, risky)."
        ),
    )
    approval_sources: list[str] = Field(
        default_factory=list,
        description=(
            "Event Grid topic resource ids whose Event Grid-schema VersionApproved events may approve this "
            "gallery's versions; never a build source. Empty: no event approves (the tag "
            "lifecycle.approved-by or `approve` only)."
        ),
    )

    delete_when_shared: bool = Field(
        default=False,
        description=(
            "Allow deletes although the gallery is shared beyond its subscription (sharingProfile Groups or "
            "Community), whose consumers the app cannot list. Default: no delete in a shared gallery."
        ),
    )

    @field_validator("build_sources", "approval_sources")
    @classmethod
    def _sources(cls, value: list[str]) -> list[str]:
        seen: set[str] = set()
        for source in value:
            shown = source if len(source) <= 200 else source[:200] + "..."
            if not source.strip():
                raise ValueError("a source must be a non-empty Event Grid topic resource id")
            if not _EVENT_GRID_TOPIC_ID.match(source.strip()):
                raise ValueError(
                    f"{shown!r} is not an Event Grid topic resource id (/subscriptions/<guid>/resourceGroups/"
                    "<rg>/providers/Microsoft.EventGrid/topics/<name>): only the Event Grid schema's stamped "
                    "`topic` of a custom topic vouches for a sender"
                )
            key = source.strip().rstrip("/").lower()
            if key in seen:
                raise ValueError(f"source {shown!r} is listed twice")
            seen.add(key)
        return [s.strip().rstrip("/") for s in value]

    @model_validator(mode="after")
    def _builders_never_approve(self) -> GalleryPolicy:
        builds = {s.lower() for s in self.build_sources}
        both = [s for s in self.approval_sources if s.lower() in builds]
        if both:
            raise ValueError(
                f"topic {both[0]!r} is in both build_sources and approval_sources: a builder never approves "
                "its own build (give approvers a topic of their own)"
            )
        return self

    @field_validator("images")
    @classmethod
    def _image_patterns(cls, value: dict[str, ImageSettings]) -> dict[str, ImageSettings]:
        for pattern in value:
            if not _IMAGE_PATTERN.match(pattern):
                shown = pattern if len(pattern) <= 100 else pattern[:100] + "..."
                raise ValueError(
                    f"image name or glob {shown!r} is not allowed (1-80 letters, digits, _ - . and * ? [ ] !)"
                )
        return value

    @field_validator("id")
    @classmethod
    def _gallery_id(cls, value: str) -> str:
        try:
            ref = parse_resource_id(value)
        except InvalidResourceId as exc:
            raise ValueError(str(exc)) from None
        if not isinstance(ref, GalleryRef):
            raise ValueError(f"{value!r} is not a gallery id (it names an image or version)")
        return ref.id

    @property
    def ref(self) -> GalleryRef:
        ref = parse_resource_id(self.id)
        assert isinstance(ref, GalleryRef)
        return ref

    consumer_subscriptions: list[str] = Field(
        default_factory=list,
        description=(
            "Subscriptions, besides the gallery's own, whose VMs and scale sets may use its images: the "
            "in-use check lists them too (and `permissions` grants the reads there)."
        ),
    )

    @field_validator("consumer_subscriptions")
    @classmethod
    def _subscription_ids(cls, value: list[str]) -> list[str]:
        seen: set[str] = set()
        for item in value:
            if not _SUBSCRIPTION_ID.match(item):
                raise ValueError(f"{item!r} is not a subscription id (a GUID)")
            if item.lower() in seen:
                raise ValueError(f"subscription {item!r} is listed twice")
            seen.add(item.lower())
        return value


class Policy(_Section):
    schema_version: Literal[1] = Field(alias="schema", description="Policy format version; must be 1.")
    mode: Literal["enforce", "dry-run"] = Field(
        default="enforce", description="enforce, or dry-run: plan and audit only, no writes."
    )
    defaults: ImageSettings = Field(default_factory=ImageSettings)
    galleries: list[GalleryPolicy] = Field(min_length=1)
    consumers: Consumers = Field(default_factory=Consumers)

    @field_validator("galleries")
    @classmethod
    def _unique_galleries(cls, value: list[GalleryPolicy]) -> list[GalleryPolicy]:
        # A field validator, so the rejection names the key path `galleries`.
        seen: set[str] = set()
        for gallery in value:
            if gallery.id.lower() in seen:
                raise ValueError(f"gallery {gallery.id} is listed twice")
            seen.add(gallery.id.lower())
        return value

    @property
    def dry_run(self) -> bool:
        return self.mode == "dry-run"

    def in_use_subscriptions(self) -> list[str]:
        """Subscriptions whose VMs and scale sets the in-use check lists: every gallery's own, plus the
        consumer subscriptions the policy names (lower-cased, sorted)."""
        subs = {g.ref.subscription.lower() for g in self.galleries}
        subs.update(s.lower() for g in self.galleries for s in g.consumer_subscriptions)
        return sorted(subs)

    def gallery(self, ref: GalleryRef) -> GalleryPolicy | None:
        return next((g for g in self.galleries if g.id.lower() == ref.key()), None)

    def for_image(self, image: ImageRef) -> ImagePolicy | None:
        """The effective settings of one image, or None when the policy leaves it out of scope."""
        gallery = self.gallery(image.gallery_ref)
        if gallery is None:
            return None
        override = _match_image(gallery.images, image.image)
        if override is None:
            return None
        return ImagePolicy(image=image, mode=self.mode, **merged_sections(self.defaults, override))


@dataclass(frozen=True)
class ImagePolicy:
    """The resolved policy for one image definition."""

    image: ImageRef
    mode: str
    replication: Replication
    metadata: Metadata
    retention: Retention
    rebake: Rebake
    approval: Approval = field(default_factory=Approval)
    ancestry: Ancestry = field(default_factory=Ancestry)

    @property
    def dry_run(self) -> bool:
        return self.mode == "dry-run"

    def digest(self) -> str:
        rebake = self.rebake.model_dump(mode="json")
        retention = self.retention.model_dump(mode="json")
        replication = self.replication.model_dump(mode="json")
        # Digests from before a key existed stay the same while it keeps its default (a changed digest lifts
        # a rebake halt).
        for section, key in (
            (rebake, "on_base_update"),
            (rebake, "on_base_deprecation"),
            (retention, "cap_at_base_deprecation"),
        ):
            if not section.get(key):
                section.pop(key, None)
        if replication.get("older") is None:
            replication.pop("older", None)
        if replication.get("replicas_max") == 10:
            replication.pop("replicas_max", None)
        payload = {
            "replication": replication,
            "retention": retention,
            "rebake": rebake,
            "tags": self.metadata.tags,
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def _match_image(images: Mapping[str, ImageSettings], name: str) -> ImageSettings | None:
    lowered = {pattern.lower(): settings for pattern, settings in images.items()}
    if name.lower() in lowered:
        return lowered[name.lower()]
    # The most specific glob wins: the longest pattern without counting wildcards.
    globs = sorted(
        (p for p in lowered if any(c in p for c in "*?[") and fnmatch.fnmatchcase(name.lower(), p)),
        key=lambda p: len(p.replace("*", "")),
        reverse=True,
    )
    return lowered[globs[0]] if globs else None


def _merge(base: _S | None, override: _S | None, kind: type[_S]) -> _S:
    """Keys the image sets explicitly override the defaults' keys; the rest come from defaults."""
    merged: dict[str, Any] = {}
    if base is not None:
        merged.update({k: getattr(base, k) for k in base.model_fields_set})
    if override is not None:
        overridden = override.model_fields_set
        # The two rebake triggers exclude each other: choosing one per image replaces the default's other.
        if "publish_event" in overridden and getattr(override, "publish_event", False):
            merged.pop("image_template", None)
        if "image_template" in overridden and getattr(override, "image_template", None):
            merged.pop("publish_event", None)
        merged.update({k: getattr(override, k) for k in overridden})
    return kind.model_validate(merged)


def _merge_metadata(base: Metadata | None, override: Metadata | None) -> Metadata:
    """Tags add up (the image's win on a clash); any other key the image sets replaces the default's."""
    fields: dict[str, Any] = {"tags": dict(base.tags if base else {})}
    fields["tags"].update(override.tags if override else {})
    for section in (base, override):
        if section is not None:
            fields.update({k: getattr(section, k) for k in section.model_fields_set if k != "tags"})
    return Metadata(**fields)


def merged_sections(defaults: ImageSettings, override: ImageSettings) -> dict[str, Any]:
    """Every section of one image: the defaults, overridden key by key by the image's own sections."""
    return {
        "replication": _merge(defaults.replication, override.replication, Replication),
        "metadata": _merge_metadata(defaults.metadata, override.metadata),
        "retention": _merge(defaults.retention, override.retention, Retention),
        "rebake": _merge(defaults.rebake, override.rebake, Rebake),
        "approval": _merge(defaults.approval, override.approval, Approval),
        "ancestry": _merge(defaults.ancestry, override.ancestry, Ancestry),
    }


def _merged_problems(policy: Policy) -> list[str]:
    """Sections valid on their own can still combine into an invalid one (say, a schedule from the
    defaults without a trigger): check each image rule as it will be applied."""
    sections: tuple[tuple[str, type[_Section]], ...] = (
        ("replication", Replication),
        ("retention", Retention),
        ("rebake", Rebake),
    )
    problems = []
    for index, gallery in enumerate(policy.galleries):
        for name, override in gallery.images.items():
            try:
                # Tags add up across the defaults and the image: 40 and 40 are each fine, 80 are not.
                _merge_metadata(policy.defaults.metadata, override.metadata)
            except ValidationError as exc:
                for error in exc.errors():
                    path = ("galleries", index, "images", name, "metadata", *error.get("loc", ()))
                    problems.append(_describe({**error, "loc": path}) + " (after merging the defaults)")
            for section, kind in sections:
                try:
                    _merge(getattr(policy.defaults, section), getattr(override, section), kind)
                except ValidationError as exc:
                    for error in exc.errors():
                        path = ("galleries", index, "images", name, section, *error.get("loc", ()))
                        problems.append(_describe({**error, "loc": path}) + " (after merging the defaults)")
    return problems


class _DocumentTooLarge(yaml.YAMLError):
    """A bound of the document (depth, nodes after alias expansion) was crossed while composing it."""


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader with a nesting limit while composing (its composer recurses: a deep document
    would end in RecursionError) and an expanded-size limit checked before anything is constructed."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            return super().compose_node(parent, index)
        self._depth += 1
        try:
            if self._depth > MAX_POLICY_DEPTH:
                mark = self.peek_event().start_mark
                raise _DocumentTooLarge(
                    f"nested more than {MAX_POLICY_DEPTH} levels deep "
                    f"(at line {mark.line + 1}, column {mark.column + 1})"
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _expanded_nodes_within_limit(root: yaml.Node) -> bool:
    """Count nodes as the constructed document would have them (an alias counts its whole target each
    time it is used), stopping as soon as the limit is crossed: a billion-laughs stops within the limit."""
    count = 0
    stack: list[yaml.Node] = [root]
    while stack:
        node = stack.pop()
        count += 1
        if count > MAX_POLICY_NODES:
            return False
        if isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
        elif isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                stack.append(key)
                stack.append(value)
    return True


def _json_within_limits(document: Any) -> None:
    """The depth and size bounds for a document read as JSON (no aliases there, but the same limits)."""
    count = 0
    stack: list[tuple[Any, int]] = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        count += 1
        if count > MAX_POLICY_NODES:
            raise _DocumentTooLarge(f"has more than {MAX_POLICY_NODES} values")
        if depth > MAX_POLICY_DEPTH:
            raise _DocumentTooLarge(f"nested more than {MAX_POLICY_DEPTH} levels deep")
        if isinstance(value, dict):
            stack.extend((item, depth + 1) for item in value.values())
        elif isinstance(value, list):
            stack.extend((item, depth + 1) for item in value)


def _load_document(text: str) -> Any:
    if text.lstrip().startswith("{"):
        # JSON is read as JSON first: YAML refuses characters JSON allows raw in strings (DEL, C1 controls),
        # so a valid JSON policy would otherwise be rejected. A flow-style YAML mapping falls through.
        try:
            document = json.loads(text)
        except json.JSONDecodeError:
            pass
        except RecursionError:
            raise _DocumentTooLarge(f"nested more than {MAX_POLICY_DEPTH} levels deep") from None
        else:
            _json_within_limits(document)
            return document
    loader = _BoundedLoader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return None
        if not _expanded_nodes_within_limit(root):
            raise _DocumentTooLarge(
                f"expands to more than {MAX_POLICY_NODES} values (YAML aliases used as a multiplier?)"
            )
        return loader.construct_document(root)
    finally:
        loader.dispose()


def parse_policy(text: str | bytes, source: str = "policy") -> Policy:
    """Parse and validate a YAML or JSON policy; raise PolicyError naming every bad key path.

    Documents beyond the bounds above (size, nesting, expanded size) are refused before or while parsing."""
    size = len(text) if isinstance(text, bytes) else len(text.encode("utf-8", errors="surrogatepass"))
    if size > MAX_POLICY_BYTES:
        raise PolicyError(
            [f"the document is {size} bytes or more; a policy may be at most {MAX_POLICY_BYTES} bytes"],
            source,
        )
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise PolicyError([f"not UTF-8 text ({exc})"], source) from None
    try:
        document = _load_document(text)
    except _DocumentTooLarge as exc:
        raise PolicyError([f"the document is too large: {exc}"], source) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise PolicyError([f"not valid YAML or JSON{where}: {problem}"], source) from None
    except (RecursionError, ValueError, TypeError) as exc:
        # The constructor's own failures outside YAMLError (a mapping key that cannot be hashed, say).
        raise PolicyError([f"not a usable YAML or JSON document: {exc.__class__.__name__}"], source) from None
    if not isinstance(document, dict):
        raise PolicyError([f"the document must be a mapping, got {type(document).__name__}"], source)
    try:
        policy = Policy.model_validate(document)
    except ValidationError as exc:
        raise PolicyError(_capped([_describe(err) for err in exc.errors()]), source) from None
    problems = _merged_problems(policy)
    if problems:
        raise PolicyError(_capped(problems), source)
    return policy


def _capped(problems: list[str]) -> list[str]:
    if len(problems) <= MAX_PROBLEMS:
        return problems
    return [*problems[:MAX_PROBLEMS], f"... and {len(problems) - MAX_PROBLEMS} more problems"]


def _describe(error: Mapping[str, Any]) -> str:
    path = ".".join(str(part) for part in error.get("loc", ())) or "(document)"
    message = str(error.get("msg", "invalid"))
    message = message.removeprefix("Value error, ")
    if error.get("type") == "extra_forbidden":
        return f"{path}: unknown key"
    if error.get("type") == "missing":
        return f"{path}: required key is missing"
    value = error.get("input")
    text = repr(value)
    if len(text) > 200:  # a huge value is named, not echoed whole into logs and events
        text = f"{text[:200]}... ({len(text)} chars)"
    shown = "" if isinstance(value, dict | list) or repr(value) in message else f" (got {text})"
    if len(path) > 300:
        path = path[:300] + "..."
    if len(message) > 500:
        message = message[:500] + "..."
    return f"{path}: {message}{shown}"


def json_schema() -> dict[str, Any]:
    schema = Policy.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "Image lifecycle policy"
    return schema
