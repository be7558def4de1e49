"""Compute Gallery over azure-mgmt-compute: read images and versions, start version updates and deletes,
and find which versions VMs and scale sets use.

Reads use paged lists (one per image); a GET per version only for versions whose replication status is
needed (still being written, watched until every region is Completed, failed), which the list does not
carry. Writes start the long-running operation and return: the next sweep
observes the outcome.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from lifecycle.changes import VersionChange
from lifecycle.clients import compute_client
from lifecycle.gateways.arm import arm_call, wire
from lifecycle.gateways.errors import NotFoundError, PermanentError
from lifecycle.inventory import INSTANCE, REFERENCE_KEYS, SCALE_SET, VM, Machine, SubscriptionInventory
from lifecycle.model import (
    OWNED_REGION_FIELDS,
    GalleryInfo,
    GalleryRef,
    GallerySharing,
    ImageDeprecation,
    ImageRef,
    InvalidResourceId,
    ObservedImage,
    ObservedVersion,
    PlatformValidation,
    PolicyViolation,
    ProvisioningState,
    RegionStatus,
    ReplicationState,
    SoftDeleted,
    TargetRegion,
    VersionRef,
    parse_resource_id,
    parse_time,
    thawed,
    version_key,
)
from lifecycle.regions import display_name, normalize_region
from lifecycle.settings import Settings

log = logging.getLogger(__name__)
# A version's GET expands its replication status and the platform's validations (GalleryRP example
# GalleryImageVersion_Get_WithValidationProfileAndReplicationStatus.json sends both, comma-separated).
EXPAND_REPLICATION = "ReplicationStatus,ValidationProfile"
MAX_PROGRESS_READS = 10  # per image and run: GETs with replication status for versions being written
TAGS_API_VERSION = "2022-09-01"  # Microsoft.Resources, resources.json: Tags_UpdateAtScope


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
        validations=_validations(props.get("validationsProfile")),
        reported_for_policy_violation=safety.get("reportedForPolicyViolation") is True,
        policy_violations=tuple(
            PolicyViolation(str(v.get("category") or "Other"), str(v.get("details") or "") or None)
            for v in safety.get("policyViolations") or ()
            if isinstance(v, Mapping)
        ),
    )


def _validations(profile: Any) -> tuple[PlatformValidation, ...] | None:
    """`validationsProfile.executedValidations`; None when the body carries no validations profile."""
    if not isinstance(profile, Mapping):
        return None
    return tuple(
        PlatformValidation(
            str(v.get("type") or "unknown"),
            str(v.get("status") or "Unknown"),
            str(v["version"]) if v.get("version") else None,
        )
        for v in profile.get("executedValidations") or ()
        if isinstance(v, Mapping)
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


def target_regions_to_arm(regions: Iterable[TargetRegion]) -> list[dict[str, Any]]:
    """The wire `targetRegions` array. An update replaces the array whole, so each entry carries the
    fields the app does not own (`extra`: encryption, additionalReplicaSets, ...) exactly as they were
    observed, next to the ones it decides."""
    out = []
    for region in regions:
        entry: dict[str, Any] = {"name": display_name(region.name)}
        for key, value in region.extra.items():
            if key not in OWNED_REGION_FIELDS:
                entry[key] = thawed(value)
        if region.replica_count is not None:
            entry["regionalReplicaCount"] = region.replica_count
        if region.storage_account_type:
            entry["storageAccountType"] = region.storage_account_type
        if region.exclude_from_latest is not None:
            entry["excludeFromLatest"] = region.exclude_from_latest
        out.append(entry)
    return out


def update_body(change: VersionChange) -> dict[str, Any]:
    """The PATCH body of a version update (GalleryImageVersionUpdate). It never carries `tags`: ARM
    replaces a resource's tags whole on PATCH, so a tag an operator set after our read would be erased;
    tags go through ARM's Tags API instead (`merge_tags`). An empty change is an empty body."""
    profile: dict[str, Any] = {}
    if change.target_regions is not None:
        profile["targetRegions"] = target_regions_to_arm(change.target_regions)
    if change.end_of_life is not None:
        profile["endOfLifeDate"] = change.end_of_life
    if change.exclude_from_latest is not None:
        profile["excludeFromLatest"] = change.exclude_from_latest
    if not profile:
        return {}
    # GalleryImageVersionProperties marks storageProfile required, and every update example of the spec
    # sends one; `{}` (GalleryImageVersion_Update_WithoutSourceId) changes nothing in it.
    return {"properties": {"publishingProfile": profile, "storageProfile": {}}}


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

    def update_version(self, change: VersionChange) -> None:
        """Start a PATCH of the version (`update_body`); the replication it triggers is observed by later
        sweeps."""
        ref = change.version
        image = ref.image_ref
        with arm_call(f"update version {ref.id}"):
            self._client(image.subscription).gallery_image_versions.begin_update(
                image.resource_group, image.gallery, image.image, ref.name, update_body(change), polling=False
            )

    def merge_tags(self, ref: VersionRef, tags: Mapping[str, str]) -> None:
        """Merge `tags` onto the version through ARM's Tags API at its scope (`Tags_UpdateAtScope`, REST
        spec `resources` 2022-09-01: PATCH `{scope}/providers/Microsoft.Resources/tags/default` with
        `{"operation": "Merge", "properties": {"tags": ...}}`): only these names are set, every other tag
        (an operator's `lifecycle.hold`, say) stays as ARM has it, whenever it was set."""
        self._tags_at_scope(ref, "Merge", tags)

    def delete_tags(self, ref: VersionRef, names: Iterable[str]) -> None:
        """Remove these tag names from the version (`Tags_UpdateAtScope` with `operation` Delete)."""
        self._tags_at_scope(ref, "Delete", {name: "" for name in names})

    def _tags_at_scope(self, ref: VersionRef, operation: str, tags: Mapping[str, str]) -> None:
        # A raw request through the compute client's own pipeline (credential, retry, rate-limit hook): the
        # one call of the Tags API needs no further SDK package. A 202 (the spec allows the operation to be
        # long-running) is a started write, observed by the next read like any other.
        from azure.core.rest import HttpRequest

        request = HttpRequest(
            "PATCH",
            f"{ref.id}/providers/Microsoft.Resources/tags/default",
            params={"api-version": TAGS_API_VERSION},
            json={"operation": operation, "properties": {"tags": dict(tags)}},
        )
        with arm_call(f"{operation.lower()} tags of {ref.id}"):
            response = self._client(ref.image_ref.subscription).send_request(request)
            response.raise_for_status()

    def delete_version(self, ref: VersionRef) -> None:
        """Start the delete; ARM finishes it asynchronously."""
        image = ref.image_ref
        with arm_call(f"delete version {ref.id}"):
            self._client(image.subscription).gallery_image_versions.begin_delete(
                image.resource_group, image.gallery, image.image, ref.name, polling=False
            )

    def restore_version(self, ref: VersionRef) -> None:
        """Start the restore of a soft-deleted version: the spec's restore is an update of the version with
        `properties.restore: true` and an empty `storageProfile`
        (GalleryImageVersion_Update_RestoreSoftDeleted.json). Like every write of the app it is not polled
        (that would need `locations/capsOperations/read` at the subscription): the caller re-reads the
        version."""
        image = ref.image_ref
        body = {"properties": {"restore": True, "storageProfile": {}}}
        with arm_call(f"restore version {ref.id}"):
            self._client(image.subscription).gallery_image_versions.begin_update(
                image.resource_group, image.gallery, image.image, ref.name, body, polling=False
            )

    def soft_deleted_versions(self, image: ImageRef) -> list[SoftDeleted]:
        """The image's soft-deleted versions with the time Azure purges them (SoftDeletedResource_
        ListByArtifactName: `hardDeletionTargetTime`)."""
        with arm_call(f"list soft-deleted versions of {image.id}"):
            items = [
                wire(item)
                for item in self._client(image.subscription).soft_deleted_resource.list_by_artifact_name(
                    image.resource_group, image.gallery, "Images", image.image
                )
            ]
        out = []
        for item in items:
            props = item.get("properties") or {}
            with contextlib.suppress(InvalidResourceId):
                out.append(
                    SoftDeleted(
                        ref=image.version(str(item.get("name"))),
                        deleted=_time(props.get("softDeletedTime")),
                        purge_at=_time(props.get("hardDeletionTargetTime")),
                    )
                )
        return sorted(out, key=lambda d: version_key(d.ref.name))

    def gallery_info(self, gallery: GalleryRef) -> GalleryInfo:
        """One GET of the gallery: its soft delete and its sharing."""
        with arm_call(f"read gallery {gallery.id}"):
            body = wire(
                self._client(gallery.subscription).galleries.get(gallery.resource_group, gallery.gallery)
            )
        props = body.get("properties") or {}
        return GalleryInfo(soft_delete=_soft_delete(props), sharing=_sharing(props))

    def marketplace_versions(
        self, subscription: str, location: str, publisher: str, offer: str, sku: str
    ) -> list[str]:
        """The version names of one Marketplace image sku in one region (VirtualMachineImages_List: one
        call, a bare array, in no promised order)."""
        with arm_call(f"list Marketplace versions of {publisher}:{offer}:{sku} in {location}"):
            items = self._client(subscription).virtual_machine_images.list(location, publisher, offer, sku)
            return [str(wire(item).get("name", "")) for item in items or []]

    def marketplace_deprecation(
        self, subscription: str, location: str, publisher: str, offer: str, sku: str, version: str
    ) -> ImageDeprecation:
        """One Marketplace image version's `imageDeprecationStatus` (VirtualMachineImages_Get; ComputeRP
        since 2022-11-01). A version that reports none is Active."""
        urn = f"{publisher}:{offer}:{sku}:{version}"
        with arm_call(f"read Marketplace image {urn} in {location}"):
            body = wire(
                self._client(subscription).virtual_machine_images.get(
                    location, publisher, offer, sku, version
                )
            )
        status = (body.get("properties") or {}).get("imageDeprecationStatus") or {}
        alternative = status.get("alternativeOption") or {}
        kind, value = alternative.get("type"), alternative.get("value")
        return ImageDeprecation(
            base=urn,
            state=str(status.get("imageState") or "Active"),
            scheduled=_time(status.get("scheduledDeprecationTime")),
            alternative=" ".join(str(p) for p in (kind, value) if p and str(p) != "None") or None,
        )

    def soft_delete(self, gallery: GalleryRef) -> tuple[bool, int | None]:
        """Whether the gallery soft-deletes versions (`softDeletePolicy`), and for how many days a deleted
        version stays restorable (retention plus grace period) when ARM says."""
        return self.gallery_info(gallery).soft_delete

    def machines(
        self, subscription: str, at: datetime, tag_names: frozenset[str] = frozenset()
    ) -> SubscriptionInventory:
        """Every VM, scale set and Uniform scale-set instance of one subscription whose image reference can
        name a gallery image (`id`, `sharedGalleryImageId`, `communityGalleryImageId`), with its region, the
        tags named in `tag_names` (lower-cased) and a scale set's capacity. One VM list, one scale-set list
        and one instance list per Uniform scale set.

        Every instance counts, on the latest model or not: one that has not taken the latest model
        (`latestModelApplied` false) runs the image it was created or last upgraded with, and one on
        `latest` runs the version its `exactVersion` names (computeExamples/
        VirtualMachineScaleSetVM_List_WithResiliencyView.json), which `latest` may since have moved past.
        A Flexible scale set's instances are VMs, already in the VM list.

        A failed list raises GatewayError: the caller treats the subscription as unknown (no delete).
        """
        subscription = subscription.lower()
        client = self._client(subscription)
        found: list[Machine] = []

        def machine(body: Mapping[str, Any], kind: str, reference: Any, **extra: Any) -> None:
            kept = _gallery_reference(reference)
            if kept is None:
                return
            tags = {
                str(k): str(v) for k, v in (body.get("tags") or {}).items() if str(k).lower() in tag_names
            }
            found.append(
                Machine(
                    id=str(body.get("id", "")),
                    kind=kind,
                    subscription=subscription,
                    region=normalize_region(str(body.get("location") or "")),
                    reference=kept,
                    tags=tags,
                    **extra,
                )
            )

        with arm_call(f"list VMs in subscription {subscription}"):
            for vm in client.virtual_machines.list_all():
                body = wire(vm)
                # A Flexible scale set's VMs name it; its capacity already counts them as demand.
                flexible = _at(body, "properties", "virtualMachineScaleSet", "id")
                machine(
                    body,
                    VM,
                    _at(body, "properties", "storageProfile", "imageReference"),
                    scale_set=str(flexible) if flexible else None,
                )
        with arm_call(f"list VM scale sets in subscription {subscription}"):
            scale_sets = [wire(v) for v in client.virtual_machine_scale_sets.list_all()]
        for vmss in scale_sets:
            props = vmss.get("properties") or {}
            capacity = _at(vmss, "sku", "capacity")
            machine(
                vmss,
                SCALE_SET,
                _at(props, "virtualMachineProfile", "storageProfile", "imageReference"),
                capacity=capacity if isinstance(capacity, int) else None,
            )
            if str(props.get("orchestrationMode") or "Uniform").lower() != "uniform":
                continue
            resource_group, name = _group_and_name(str(vmss.get("id", "")))
            with arm_call(f"list instances of scale set {vmss.get('id')}"):
                for instance in client.virtual_machine_scale_set_vms.list(resource_group, name):
                    body = wire(instance)
                    body.setdefault("location", vmss.get("location"))
                    body["tags"] = vmss.get("tags") or {}  # an instance is owned as its scale set is
                    machine(
                        body,
                        INSTANCE,
                        _at(body.get("properties") or {}, "storageProfile", "imageReference"),
                        scale_set=str(vmss.get("id", "")),
                    )
        return SubscriptionInventory(subscription, at, tuple(found))


def _soft_delete(props: Mapping[str, Any]) -> tuple[bool, int | None]:
    policy = props.get("softDeletePolicy") or {}
    if policy.get("isSoftDeleteEnabled") is not True:
        return False, None
    retention = policy.get("retentionPeriodInDays")
    if not isinstance(retention, int):
        return True, None
    grace = policy.get("gracePeriodInDays")
    return True, retention + (grace if isinstance(grace, int) else 0)


def _sharing(props: Mapping[str, Any]) -> GallerySharing:
    profile = props.get("sharingProfile") or {}
    info = profile.get("communityGalleryInfo") or {}
    unique = (props.get("identifier") or {}).get("uniqueName")
    return GallerySharing(
        permissions=str(profile.get("permissions") or "Private"),
        unique_name=str(unique) if unique else None,
        public_names=tuple(str(n) for n in info.get("publicNames") or () if n),
    )


def _at(body: Mapping[str, Any], *path: str) -> Any:
    node: Any = body
    for key in path:
        node = node.get(key) if isinstance(node, Mapping) else None
    return node


def _group_and_name(resource_id: str) -> tuple[str, str]:
    parts = resource_id.strip("/").split("/")
    lowered = [p.lower() for p in parts]
    if "resourcegroups" not in lowered or len(parts) < 2:
        raise PermanentError(f"not a scale set id: {resource_id!r}")
    return parts[lowered.index("resourcegroups") + 1], parts[-1]


def _gallery_reference(reference: Any) -> dict[str, str] | None:
    """The parts of an image reference that can name a gallery image, or None for any other image
    (Marketplace, managed images)."""
    if not isinstance(reference, Mapping):
        return None
    kept = {
        k: str(reference[k]) for k in REFERENCE_KEYS if isinstance(reference.get(k), str) and reference[k]
    }
    named = kept.get("id", "").lower()
    if "/providers/microsoft.compute/galleries/" in named or any(
        k in kept for k in ("sharedGalleryImageId", "communityGalleryImageId")
    ):
        return kept
    return None
