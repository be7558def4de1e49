"""The gallery family's resource types, constants and the emulator's records of versions in flight."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from emulator.state import Operation, Resource

PROVIDER = "Microsoft.Compute"
GALLERY = "Microsoft.Compute/galleries"
IMAGE = "Microsoft.Compute/galleries/images"
VERSION = "Microsoft.Compute/galleries/images/versions"
SOFT_DELETED = "Microsoft.Compute/galleries/softDeletedArtifactTypes/artifacts/versions"
SOFT_DELETE_RETENTION_DAYS = 7  # documented; "you can't currently update the retention period"
BUSY = ("Creating", "Updating", "Deleting")
STORAGE_TYPES = ("Standard_LRS", "Standard_ZRS", "Premium_LRS", "PremiumV2_LRS")
STRATEGIES = ("PreferStandard_ZRS", "DefaultStandard_LRS")
REPLICATION_MODES = ("Full", "Shallow")
VERSION_NAME = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")
MAX_INT32 = 2**31 - 1
PP = "galleryImageVersion.properties.publishingProfile"
LRO_FAIL_DETAILS = "Replication failed (injected by the emulator's lro-fail fault)."
# A failed region's detail as Azure words it (Azure/azure-cli#15539, quoted in
# ../shared/reference/recordings/FACTS-replication-failure.md).
REGION_FAIL_DETAILS = "Failed with internal server error."
# The issue shows no error code for this failure; this code is the emulator's own.
REGION_FAIL_CODE = "GalleryReplicationFailed"


@dataclass
class RegionReplication:
    """Replication of one target region: Replicating from `start` until `end`, then Completed (or Failed).

    `lag` keeps a region Replicating after `end`, when the operation and provisioningState already read
    Succeeded: "The Azure Compute Gallery Get API returns provisioningState=Succeeded once the parent LRO
    finishes, but RegionalReplicationStatus.State for the new region can remain" Replicating
    (Azure/AgentBaker#8373, where it lasted about ten more minutes).
    """

    start: datetime
    end: datetime
    failed: bool = False
    lag: timedelta = timedelta(0)
    details: str = ""

    def state(self, now: datetime) -> tuple[str, int]:
        if now >= self.end + (timedelta(0) if self.failed else self.lag):
            return ("Failed", 100) if self.failed else ("Completed", 100)
        if now >= self.end:
            return "Replicating", 99
        total = (self.end - self.start).total_seconds()
        done = (now - self.start).total_seconds()
        progress = 0 if total <= 0 else int(max(0.0, min(99.0, done / total * 100)))
        return "Replicating", progress


@dataclass
class ImageVersion(Resource):
    replication: dict[str, RegionReplication] = field(default_factory=dict)
    operation: Operation | None = None  # the write in flight (a forced regional failure fails it)


@dataclass
class SoftDeletedVersion(Resource):
    """A deleted version kept restorable in a soft-delete gallery; `version` is what is restored."""

    version: ImageVersion | None = None
    deleted_at: datetime | None = None
    hard_delete_at: datetime | None = None
