"""The scratch resources of `smoke`: a small empty managed disk, its snapshot, a gallery, an image definition
and versions made from the snapshot, created and removed through the same SDK clients the app uses.

Every call waits for its long-running operation (the smoke checks each step before the next) and turns
failures into the engine's error kinds, with ARM's code and message.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lifecycle.clients import compute_client
from lifecycle.gateways.arm import arm_call, wire
from lifecycle.gateways.errors import NotFoundError
from lifecycle.settings import Settings

# Hyper-V Gen2 Linux, generalized: the cheapest definition a snapshot source fits. The security type is
# set explicitly: newer api-versions default Gen2 definitions to Trusted Launch.
SECURITY_TYPE = "Standard"
DISK_SIZE_GB = 1
DISK_SKU = "Standard_LRS"


@dataclass(frozen=True)
class Scratch:
    """Where the scratch resources live and what they are called."""

    subscription: str
    resource_group: str
    location: str
    disk: str
    snapshot: str
    gallery: str
    image: str
    tags: Mapping[str, str]

    def _provider(self) -> str:
        return f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}/providers"

    @property
    def disk_id(self) -> str:
        return f"{self._provider()}/Microsoft.Compute/disks/{self.disk}"

    @property
    def snapshot_id(self) -> str:
        return f"{self._provider()}/Microsoft.Compute/snapshots/{self.snapshot}"

    @property
    def gallery_id(self) -> str:
        return f"{self._provider()}/Microsoft.Compute/galleries/{self.gallery}"

    @property
    def image_id(self) -> str:
        return f"{self.gallery_id}/images/{self.image}"

    def version_id(self, version: str) -> str:
        return f"{self.image_id}/versions/{version}"


@dataclass(frozen=True)
class RegionReplication:
    """One entry of a version's `replicationStatus.summary`, as ARM sent it."""

    region: str | None
    state: str | None
    progress: int | None


@dataclass(frozen=True)
class ScratchVersion:
    """What the smoke checks of a scratch version, read from its body as ARM sent it (values unparsed:
    the smoke reports them as they came)."""

    tags: Mapping[str, str]
    end_of_life: str | None
    published: str | None
    region_names: tuple[str, ...]  # `publishingProfile.targetRegions[].name`
    exclude_from_latest: bool | None  # None when the body does not say
    provisioning_state: str | None
    replication: tuple[RegionReplication, ...]


def scratch_version(body: Mapping[str, Any]) -> ScratchVersion:
    props = body.get("properties") or {}
    profile = props.get("publishingProfile") or {}
    status = props.get("replicationStatus") or {}
    return ScratchVersion(
        tags=dict(body.get("tags") or {}),
        end_of_life=profile.get("endOfLifeDate"),
        published=profile.get("publishedDate"),
        region_names=tuple(str(t.get("name", "")) for t in profile.get("targetRegions") or []),
        exclude_from_latest=profile.get("excludeFromLatest"),
        provisioning_state=props.get("provisioningState"),
        replication=tuple(
            RegionReplication(s.get("region"), s.get("state"), s.get("progress", 0))
            for s in status.get("summary") or []
        ),
    )


class ScratchGateway:
    """Creates, reads and removes the scratch resources. `poll_seconds` is the polling interval of every
    long-running operation."""

    def __init__(self, settings: Settings, scratch: Scratch, poll_seconds: float) -> None:
        self._scratch = scratch
        self._poll = poll_seconds
        self._client: Any = compute_client(settings, scratch.subscription)

    # --- creation -----------------------------------------------------------------------------------------
    def create_disk(self) -> None:
        s = self._scratch
        body = {
            "location": s.location,
            "tags": dict(s.tags),
            "sku": {"name": DISK_SKU},
            "properties": {"creationData": {"createOption": "Empty"}, "diskSizeGB": DISK_SIZE_GB},
        }
        with arm_call(f"create disk {s.disk_id}"):
            self._client.disks.begin_create_or_update(
                s.resource_group, s.disk, body, polling_interval=self._poll
            ).result()

    def create_snapshot(self) -> None:
        s = self._scratch
        body = {
            "location": s.location,
            "tags": dict(s.tags),
            "sku": {"name": DISK_SKU},
            "properties": {"creationData": {"createOption": "Copy", "sourceResourceId": s.disk_id}},
        }
        with arm_call(f"create snapshot {s.snapshot_id}"):
            self._client.snapshots.begin_create_or_update(
                s.resource_group, s.snapshot, body, polling_interval=self._poll
            ).result()

    def create_gallery(self) -> None:
        s = self._scratch
        body = {"location": s.location, "tags": dict(s.tags), "properties": {"description": "smoke test"}}
        with arm_call(f"create gallery {s.gallery_id}"):
            self._client.galleries.begin_create_or_update(
                s.resource_group, s.gallery, body, polling_interval=self._poll
            ).result()

    def create_image(self) -> None:
        s = self._scratch
        body = {
            "location": s.location,
            "tags": dict(s.tags),
            "properties": {
                "osType": "Linux",
                "osState": "Generalized",
                "hyperVGeneration": "V2",
                "features": [{"name": "SecurityType", "value": SECURITY_TYPE}],
                "identifier": {"publisher": "lifecycle-smoke", "offer": s.image, "sku": s.gallery},
            },
        }
        with arm_call(f"create image definition {s.image_id}"):
            self._client.gallery_images.begin_create_or_update(
                s.resource_group, s.gallery, s.image, body, polling_interval=self._poll
            ).result()

    def create_version(self, version: str) -> None:
        """A version from the snapshot, in the home region only. Deletion before end-of-life is allowed
        explicitly: from api-version 2026-03-03 Azure blocks it by default, and the smoke deletes at once."""
        s = self._scratch
        body = {
            "location": s.location,
            "tags": dict(s.tags),
            "properties": {
                "publishingProfile": {
                    "targetRegions": [
                        {"name": s.location, "regionalReplicaCount": 1, "storageAccountType": DISK_SKU}
                    ],
                    "storageAccountType": DISK_SKU,
                },
                "storageProfile": {"osDiskImage": {"source": {"id": s.snapshot_id}}},
                "safetyProfile": {"blockDeletionBeforeEndOfLife": False},
            },
        }
        with arm_call(f"create version {s.version_id(version)}"):
            self._client.gallery_image_versions.begin_create_or_update(
                s.resource_group, s.gallery, s.image, version, body, polling_interval=self._poll
            ).result()

    # --- reads --------------------------------------------------------------------------------------------
    def version(self, version: str) -> ScratchVersion | None:
        """The version with its replication status, or None when it does not exist."""
        s = self._scratch
        try:
            with arm_call(f"read version {s.version_id(version)}"):
                return scratch_version(
                    wire(
                        self._client.gallery_image_versions.get(
                            s.resource_group, s.gallery, s.image, version, expand="ReplicationStatus"
                        )
                    )
                )
        except NotFoundError:
            return None

    def versions(self) -> list[str]:
        s = self._scratch
        try:
            with arm_call(f"list versions of {s.image_id}"):
                return [
                    str(wire(v)["name"])
                    for v in self._client.gallery_image_versions.list_by_gallery_image(
                        s.resource_group, s.gallery, s.image
                    )
                ]
        except NotFoundError:
            return []

    # --- removal (each tolerates a resource already gone) -------------------------------------------------
    def delete_version(self, version: str) -> None:
        s = self._scratch
        self._delete(
            f"delete version {s.version_id(version)}",
            lambda: self._client.gallery_image_versions.begin_delete(
                s.resource_group, s.gallery, s.image, version, polling_interval=self._poll
            ),
        )

    def delete_image(self) -> None:
        s = self._scratch
        self._delete(
            f"delete image definition {s.image_id}",
            lambda: self._client.gallery_images.begin_delete(
                s.resource_group, s.gallery, s.image, polling_interval=self._poll
            ),
        )

    def delete_gallery(self) -> None:
        s = self._scratch
        self._delete(
            f"delete gallery {s.gallery_id}",
            lambda: self._client.galleries.begin_delete(
                s.resource_group, s.gallery, polling_interval=self._poll
            ),
        )

    def delete_snapshot(self) -> None:
        s = self._scratch
        self._delete(
            f"delete snapshot {s.snapshot_id}",
            lambda: self._client.snapshots.begin_delete(
                s.resource_group, s.snapshot, polling_interval=self._poll
            ),
        )

    def delete_disk(self) -> None:
        s = self._scratch
        self._delete(
            f"delete disk {s.disk_id}",
            lambda: self._client.disks.begin_delete(s.resource_group, s.disk, polling_interval=self._poll),
        )

    def _delete(self, what: str, start: Any) -> None:
        try:
            with arm_call(what):
                start().result()
        except NotFoundError:
            return

    def leftovers(self) -> list[str]:
        """Ids of resources in the resource group that carry this run's tags (what a cleanup missed)."""
        s = self._scratch
        found: list[str] = []
        with arm_call(f"list resources of resource group {s.resource_group}"):
            for pages in (
                self._client.disks.list_by_resource_group(s.resource_group),
                self._client.snapshots.list_by_resource_group(s.resource_group),
                self._client.galleries.list_by_resource_group(s.resource_group),
            ):
                for item in pages:
                    body = wire(item)
                    tags = body.get("tags") or {}
                    if all(tags.get(k) == v for k, v in s.tags.items()):
                        found.append(str(body.get("id")))
        return found
