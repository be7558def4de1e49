"""Microsoft.Compute galleries, gallery image definitions and gallery image versions.

Owns the rules Azure Compute Gallery enforces (home region in targetRegions, no duplicate regions,
non-updatable storage settings, busy versions refuse writes, replicated regions need
`allowDeletionOfReplicatedLocations` to be removed, `blockDeletionBeforeEndOfLife`, nested resources block
deletes, the 2026-03-03 end-of-life defaults, storageProfile required in updates, per-region fields and
encryption) and the replication model: every target region of a version replicates for
`replication_seconds` of virtual time; the create/update operation completes when all have; a region may
still read Replicating for a lag after that, and may fail on its own (see "regional replication failures").

Soft delete (preview): in a gallery whose `softDeletePolicy.isSoftDeleteEnabled` is true, deleting a version
keeps it as a soft-deleted artifact for `retentionPeriodInDays` (7, fixed today) plus `gracePeriodInDays`
of virtual time. It is gone from GET and the versions list, listed under
`.../softDeletedArtifactTypes/Images/artifacts/{image}/versions`, and restored by a PUT or PATCH of the
version with `properties.restore: true` (or a PUT with no properties, as the docs show); a DELETE on the
artifact deletes it for good. Failed versions cannot be deleted while soft delete is on, and an image
definition with soft-deleted versions cannot be deleted (both documented limitations).

Sharing: `sharingProfile.permissions` Private, Groups or Community on PUT; `POST .../share` adds or removes
groups, resets to Private or enables community sharing; a Community gallery gets generated public names.

Modules, one family or concern each: `handlers` (dispatch and the HTTP methods), `gallery` (gallery
properties, sharing), `image` (image definitions), `version` (version properties), `replication` (regional
replication, failures, lag), `soft_delete`, `rendering` (GET bodies), `common` (request checks), `model`
(types and records).
"""

from __future__ import annotations

from emulator.galleries.handlers import RESOURCE_TYPES, handle
from emulator.galleries.model import ImageVersion, RegionReplication, SoftDeletedVersion
from emulator.galleries.rendering import render, replication_status
from emulator.galleries.replication import force_replication, replication_error
from emulator.galleries.soft_delete import handle_soft_deleted

__all__ = [
    "RESOURCE_TYPES",
    "ImageVersion",
    "RegionReplication",
    "SoftDeletedVersion",
    "force_replication",
    "handle",
    "handle_soft_deleted",
    "render",
    "replication_error",
    "replication_status",
]
