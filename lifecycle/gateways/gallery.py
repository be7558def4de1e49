"""Compute Gallery over azure-mgmt-compute: read images and versions, start version updates and deletes,
and find which versions VMs and scale sets use.

Reads use paged lists (one per image); a GET per version only for versions whose replication status is
needed (still being written, watched until every region is Completed, failed), which the list does not
carry. Writes start the long-running operation and return: the next sweep
observes the outcome.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from lifecycle.clients import compute_client
from lifecycle.gateways.arm import arm_call, wire
from lifecycle.gateways.errors import GatewayError, NotFoundError
from lifecycle.model import (
    OWNED_REGION_FIELDS,
    GalleryRef,
    ImageRef,
    ImageUsage,
    InvalidResourceId,
    ObservedImage,
    ObservedVersion,
    ProvisioningState,
    RegionStatus,
    ReplicationState,
    TargetRegion,
    VersionRef,
    parse_resource_id,
    parse_time,
    thawed,
    version_key,
)
from lifecycle.regions import display_name
from lifecycle.settings import Settings

log = logging.getLogger(__name__)
EXPAND_REPLICATION = "ReplicationStatus"
MAX_PROGRESS_READS = 10  # per image and run: GETs with replication status for versions being written


def _time(value: Any) -> Any:
    if value is None or value == "":
        return None
    if hasattr(value, "tzinfo"):
        return value
    return parse_time(str(value))


def version_from_arm(body: Mapping[str, Any], ref: VersionRef | None = None) -> ObservedVersion:
    """Parse an ARM gallery image version body (wire JSON) into an ObservedVersion."""
    if ref is None:
        parsed = parse_resource_id(str(body.get("id", "")))
        if not isinstance(parsed, VersionRef):
            raise InvalidResourceId(f"not an image version id: {body.get('id')!r}")
        ref = parsed
    props = body.get("properties") or {}
    profile = props.get("publishingProfile") or {}
    safety = props.get("safetyProfile") or {}
    status = props.get("replicationStatus") or {}
    targets = tuple(
        TargetRegion(
            name=str(t.get("name", "")),
            replica_count=t.get("regionalReplicaCount"),
            storage_account_type=t.get("storageAccountType"),
            exclude_from_latest=t.get("excludeFromLatest"),
            # Everything else (encryption, additionalReplicaSets, ...) rides along unchanged.
            extra=t,
        )
        for t in profile.get("targetRegions") or []
        if isinstance(t, Mapping)
    )
    summary = tuple(
        RegionStatus(
            region=str(s.get("region", "")),
            state=_replication_state(s.get("state")),
            progress=s.get("progress"),
            details=s.get("details"),
        )
        for s in status.get("summary") or []
    )
    aggregated = status.get("aggregatedState")
    return ObservedVersion(
        ref=ref,
        location=str(body.get("location", "")),
        provisioning_state=ProvisioningState.parse(props.get("provisioningState")),
        published=_time(profile.get("publishedDate")),
        end_of_life=_time(profile.get("endOfLifeDate")),
        exclude_from_latest=bool(profile.get("excludeFromLatest", False)),
        target_regions=targets,
        replica_count=profile.get("replicaCount"),
        storage_account_type=profile.get("storageAccountType"),
        replication_mode=profile.get("replicationMode"),
        tags=dict(body.get("tags") or {}),
        replication_state=_replication_state(aggregated) if aggregated else None,
        region_status=summary,
        allow_deletion_of_replicated_locations=bool(safety.get("allowDeletionOfReplicatedLocations", False)),
        block_deletion_before_end_of_life=safety.get("blockDeletionBeforeEndOfLife"),
        etag=body.get("etag"),
        size_gb=disk_size_gb(props.get("storageProfile")),
    )


def disk_size_gb(storage: Any) -> float | None:
    """OS disk plus data disks in GiB, from `storageProfile.osDiskImage.sizeInGB` and
    `dataDiskImages[].sizeInGB`; None when the OS disk's size is not reported."""
    if not isinstance(storage, Mapping):
        return None
    os_disk = storage.get("osDiskImage")
    os_size = os_disk.get("sizeInGB") if isinstance(os_disk, Mapping) else None
    if not isinstance(os_size, int | float) or isinstance(os_size, bool):
        return None
    total = float(os_size)
    for disk in storage.get("dataDiskImages") or []:
        size = disk.get("sizeInGB") if isinstance(disk, Mapping) else None
        if isinstance(size, int | float) and not isinstance(size, bool):
            total += float(size)
    return total


def _replication_state(value: Any) -> ReplicationState:
    for member in ReplicationState:
        if str(value or "").lower() == member.value.lower():
            return member
    return ReplicationState.UNKNOWN


def target_regions_to_arm(regions: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The wire `targetRegions` array from the planner's region entries. An update replaces the array
    whole, so each entry carries the fields the app does not own (`extra`: encryption,
    additionalReplicaSets, ...) exactly as they were observed, next to the ones it decides."""
    out = []
    for region in regions:
        entry: dict[str, Any] = {"name": display_name(str(region["name"]))}
        for key, value in (region.get("extra") or {}).items():
            if key not in OWNED_REGION_FIELDS:
                entry[key] = thawed(value)
        if region.get("replica_count") is not None:
            entry["regionalReplicaCount"] = region["replica_count"]
        if region.get("storage_account_type"):
            entry["storageAccountType"] = region["storage_account_type"]
        if region.get("exclude_from_latest") is not None:
            entry["excludeFromLatest"] = region["exclude_from_latest"]
        out.append(entry)
    return out


class GalleryGateway:
    """Reads and writes gallery resources in any subscription the policy names."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def _client(self, subscription: str) -> Any:
        return compute_client(self._settings, subscription)

    def list_images(self, gallery: GalleryRef) -> list[tuple[ImageRef, str, dict[str, str]]]:
        """Image definitions of a gallery: (ref, location, tags)."""
        with arm_call(f"list images of {gallery.id}"):
            pages = self._client(gallery.subscription).gallery_images.list_by_gallery(
                gallery.resource_group, gallery.gallery
            )
            return [
                (
                    gallery.image(str(item["name"])),
                    str(item.get("location", "")),
                    dict(item.get("tags") or {}),
                )
                for item in (wire(i) for i in pages)
            ]

    def get_image(self, image: ImageRef) -> tuple[str, dict[str, str]] | None:
        try:
            with arm_call(f"read image {image.id}"):
                body = wire(
                    self._client(image.subscription).gallery_images.get(
                        image.resource_group, image.gallery, image.image
                    )
                )
        except NotFoundError:
            return None
        return str(body.get("location", "")), dict(body.get("tags") or {})

    def read_image(
        self,
        image: ImageRef,
        location: str,
        tags: Mapping[str, str],
        wants_status: Callable[[ObservedVersion], bool] | None = None,
    ) -> ObservedImage:
        """All versions of one image: one paged list, plus a GET with replication status (which the list
        does not carry) for versions being written, versions the caller watches (`wants_status`: say,
        until every region is Completed) and failed versions, in that order, newest first, at most
        MAX_PROGRESS_READS of them."""
        client = self._client(image.subscription)
        with arm_call(f"list versions of {image.id}"):
            bodies = [
                wire(v)
                for v in client.gallery_image_versions.list_by_gallery_image(
                    image.resource_group, image.gallery, image.image
                )
            ]
        versions = [version_from_arm(body, image.version(str(body.get("name")))) for body in bodies]
        candidates: list[tuple[int, tuple[int, ...], int]] = []
        for index, version in enumerate(versions):
            if version.region_status:
                continue
            if version.provisioning_state.busy:
                rank = 0
            elif wants_status is not None and wants_status(version):
                rank = 1
            elif version.provisioning_state is ProvisioningState.FAILED:
                rank = 2
            else:
                continue
            candidates.append((rank, tuple(-p for p in version_key(version.name)), index))
        for _, _, index in sorted(candidates)[:MAX_PROGRESS_READS]:
            versions[index] = self.get_version(versions[index].ref) or versions[index]
        return ObservedImage(ref=image, location=location, versions=tuple(versions), tags=tags)

    def get_version(self, ref: VersionRef) -> ObservedVersion | None:
        image = ref.image_ref
        try:
            with arm_call(f"read version {ref.id}"):
                body = self._client(image.subscription).gallery_image_versions.get(
                    image.resource_group, image.gallery, image.image, ref.name, expand=EXPAND_REPLICATION
                )
        except NotFoundError:
            return None
        return version_from_arm(wire(body), ref)

    def update_version(self, version: ObservedVersion, patch: Mapping[str, Any]) -> None:
        """Start a PATCH of the version; the replication it triggers is observed by later sweeps."""
        image = version.ref.image_ref
        with arm_call(f"update version {version.ref.id}"):
            self._client(image.subscription).gallery_image_versions.begin_update(
                image.resource_group, image.gallery, image.image, version.ref.name, dict(patch), polling=False
            )

    def delete_version(self, ref: VersionRef) -> None:
        """Start the delete; ARM finishes it asynchronously."""
        image = ref.image_ref
        with arm_call(f"delete version {ref.id}"):
            self._client(image.subscription).gallery_image_versions.begin_delete(
                image.resource_group, image.gallery, image.image, ref.name, polling=False
            )

    def soft_delete(self, gallery: GalleryRef) -> tuple[bool, int | None]:
        """Whether the gallery soft-deletes versions (`softDeletePolicy`), and for how many days a deleted
        version stays restorable (retention plus grace period) when ARM says."""
        with arm_call(f"read gallery {gallery.id}"):
            body = wire(
                self._client(gallery.subscription).galleries.get(gallery.resource_group, gallery.gallery)
            )
        policy = (body.get("properties") or {}).get("softDeletePolicy") or {}
        if policy.get("isSoftDeleteEnabled") is not True:
            return False, None
        retention = policy.get("retentionPeriodInDays")
        if not isinstance(retention, int):
            return True, None
        grace = policy.get("gracePeriodInDays")
        return True, retention + (grace if isinstance(grace, int) else 0)

    def marketplace_versions(
        self, subscription: str, location: str, publisher: str, offer: str, sku: str
    ) -> list[str]:
        """The version names of one Marketplace image sku in one region (VirtualMachineImages_List: one
        call, a bare array, in no promised order)."""
        with arm_call(f"list Marketplace versions of {publisher}:{offer}:{sku} in {location}"):
            items = self._client(subscription).virtual_machine_images.list(location, publisher, offer, sku)
            return [str(wire(item).get("name", "")) for item in items or []]

    def usage(self, subscriptions: Iterable[str]) -> ImageUsage:
        """Versions that VMs and VM scale sets reference, by exact id or by image (`latest`).

        Any failure yields an incomplete answer, and the planner deletes nothing on doubt.
        """
        versions: set[str] = set()
        images: set[str] = set()
        try:
            for subscription in sorted({s.lower() for s in subscriptions}):
                client = self._client(subscription)
                with arm_call(f"list VMs in subscription {subscription}"):
                    for vm in client.virtual_machines.list_all():
                        _collect(
                            wire(vm), ("properties", "storageProfile", "imageReference"), versions, images
                        )
                with arm_call(f"list VM scale sets in subscription {subscription}"):
                    for vmss in client.virtual_machine_scale_sets.list_all():
                        _collect(
                            wire(vmss),
                            ("properties", "virtualMachineProfile", "storageProfile", "imageReference"),
                            versions,
                            images,
                        )
        except GatewayError as exc:
            log.error("in-use check failed; no version will be deleted this run", extra={"error": str(exc)})
            return ImageUsage(frozenset(versions), frozenset(images), complete=False, problem=str(exc))
        return ImageUsage(frozenset(versions), frozenset(images), complete=True)


def _collect(body: Mapping[str, Any], path: tuple[str, ...], versions: set[str], images: set[str]) -> None:
    node: Any = body
    for key in path:
        node = node.get(key) if isinstance(node, Mapping) else None
    reference = node.get("id") if isinstance(node, Mapping) else None
    if not reference:
        return
    reference = str(reference)
    # `.../versions/latest` follows `latest`, exactly like a reference to the image definition.
    if reference.lower().rstrip("/").endswith("/versions/latest"):
        reference = reference.rstrip("/")[: -len("/versions/latest")]
    try:
        ref = parse_resource_id(reference)
    except InvalidResourceId:
        return
    if isinstance(ref, VersionRef):
        versions.add(ref.key())
    elif isinstance(ref, ImageRef):
        images.add(ref.key())
