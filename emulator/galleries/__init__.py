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

Modules, one family or concern each:
* `handlers`: dispatch and the HTTP methods shared by the three levels (GET, list, PUT/PATCH, DELETE);
* `gallery`: gallery properties, sharing (`POST .../share`) and what a gallery's answer adds;
* `image`: image definition properties;
* `version`: version properties as named parts over one `VersionWrite` (publishing settings, safety
  profile, publishing profile, storage profile, the replication a write starts), and the version rules of
  updates and deletes; `target_regions`: each target region's entry, removed regions, extended locations;
* `sources`: the disk images a version reports for a VM or managed image source;
* `replication`: regional replication, failures, lag, `$expand=ReplicationStatus`;
* `soft_delete`: soft-deleted versions (kept, listed, restored, purged) and its rules on deletes;
* `validation`: the platform's validations and policy violations of a version;
* `rendering`: GET bodies (the envelope of emulator/envelope.py); `api_shape`: bodies by api-version;
* `common`: request checks; `model`: types and records.
"""

from __future__ import annotations

from emulator.galleries.handlers import RESOURCE_TYPES, handle
from emulator.galleries.model import ImageVersion, RegionReplication, SoftDeletedVersion
from emulator.galleries.rendering import render
from emulator.galleries.replication import force_replication, replication_error, replication_status
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
