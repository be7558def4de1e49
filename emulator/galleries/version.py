"""Gallery image version properties: publishing settings, safety profile, publishing profile, storage
profile and the replication a write starts (target regions: emulator/galleries/target_regions.py)."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from emulator import disks, regions
from emulator.arm import Request, api_at_least
from emulator.clock import add_months, format_iso, parse_iso
from emulator.errors import conflict, invalid_parameter
from emulator.galleries.common import as_object, choice_of, positive_int
from emulator.galleries.model import (
    PP,
    REGION_FAIL_DETAILS,
    REPLICATION_MODES,
    STORAGE_TYPES,
    STRATEGIES,
    ImageVersion,
    RegionReplication,
)
from emulator.galleries.replication import region_fails, region_lag
from emulator.galleries.target_regions import check_removed_regions, extended_locations, target_regions
from emulator.state import Resource

if TYPE_CHECKING:
    from emulator.state import State


def has_source(storage: dict[str, Any]) -> bool:
    source = storage.get("source")
    if isinstance(source, dict) and any(source.get(k) for k in source):
        return True
    os_disk = storage.get("osDiskImage")
    if isinstance(os_disk, dict) and isinstance(os_disk.get("source"), dict) and os_disk["source"]:
        return True
    data_disks = storage.get("dataDiskImages")
    return bool(isinstance(data_disks, list) and data_disks)


@dataclass
class VersionWrite:
    """One PUT or PATCH of a version: the request's properties beside what is stored (`current`)."""

    state: State
    req: Request
    existing: Resource | None
    props_in: dict[str, Any]
    pp_in: dict[str, Any]
    location: str
    now: datetime
    version_id: str

    @property
    def api(self) -> str:
        return self.req.api_version

    @property
    def current(self) -> dict[str, Any]:
        return self.existing.properties if self.existing else {}

    @property
    def cur_pp(self) -> dict[str, Any]:
        found: dict[str, Any] = self.current.get("publishingProfile", {})
        return found

    @property
    def cur_targets(self) -> dict[str, dict[str, Any]]:
        """The stored target regions by normalized name."""
        return {regions.normalize(t["name"]): t for t in self.cur_pp.get("targetRegions", [])}

    @property
    def old_replication(self) -> dict[str, RegionReplication]:
        return self.existing.replication if isinstance(self.existing, ImageVersion) else {}


@dataclass
class Publishing:
    """The version-wide settings of `publishingProfile`, read before its target regions."""

    storage_type: str | None
    strategy: str | None
    replication_mode: str | None
    replica_count: int = 1
    exclude: bool = False
    published: str = ""
    eol: str | None = None


def version_properties(
    state: State,
    req: Request,
    existing: Resource | None,
    props_in: dict[str, Any],
    location: str,
    now: datetime,
    version_id: str,
) -> tuple[dict[str, Any], dict[str, RegionReplication]]:
    """A version's properties after a write, and the replication of each of its target regions. Each
    part below checks its piece of the request in turn; the first refusal is the answer."""
    pp_in = as_object(props_in.get("publishingProfile"), "publishingProfile")
    write = VersionWrite(state, req, existing, props_in, pp_in, location, now, version_id)
    home = regions.lookup(location)
    assert home is not None
    settings = publishing_settings(write)
    safety = safety_profile(write)
    targets, named = target_regions(write, settings, home)
    check_removed_regions(write, named, safety)
    publishing = publishing_profile(write, settings, targets)
    storage = storage_profile(write)
    props: dict[str, Any] = {
        "publishingProfile": publishing,
        "storageProfile": storage,
        "safetyProfile": safety,
    }
    security = props_in.get("securityProfile", write.current.get("securityProfile"))
    if security is not None:
        props["securityProfile"] = security
    return props, replication_plan(write, targets)


def account_settings(write: VersionWrite) -> tuple[str | None, str | None, str | None]:
    """`storageAccountType`, `storageAccountStrategy` and `replicationMode`, set at create only."""
    pp_in, cur_pp = write.pp_in, write.cur_pp
    # Version-level settings that are not updatable.
    if write.existing is not None:
        for key, default in (
            ("storageAccountType", None),
            ("storageAccountStrategy", None),
            ("replicationMode", "Full"),
        ):
            given = pp_in.get(key)
            have = cur_pp.get(key, default)
            if given is not None and have is not None and str(given).lower() != str(have).lower():
                raise conflict(
                    "PropertyChangeNotAllowed", f"Changing property '{key}' is not allowed.", f"{PP}.{key}"
                )
        return (
            cur_pp.get("storageAccountType"),
            cur_pp.get("storageAccountStrategy"),
            cur_pp.get("replicationMode"),
        )
    storage_type = pp_in.get("storageAccountType")
    strategy = pp_in.get("storageAccountStrategy")
    if storage_type and strategy:
        raise invalid_parameter(
            "'storageAccountType' cannot be specified along with 'storageAccountStrategy'.",
            f"{PP}.storageAccountStrategy",
        )
    if storage_type:
        storage_type = choice_of(storage_type, STORAGE_TYPES, f"{PP}.storageAccountType")
    if strategy:
        strategy = choice_of(strategy, STRATEGIES, f"{PP}.storageAccountStrategy")
    if not storage_type and not strategy:
        # GalleryRP 2025-03-03 adds storageAccountStrategy, default PreferStandard_ZRS; older api-versions
        # default the account type to Standard_LRS (../shared/reference/README.md, "Notable points").
        if api_at_least(write.api, "2025-03-03"):
            strategy = "PreferStandard_ZRS"
        else:
            storage_type = "Standard_LRS"
    replication_mode = pp_in.get("replicationMode")
    if replication_mode is not None:
        replication_mode = choice_of(replication_mode, REPLICATION_MODES, f"{PP}.replicationMode")
    return storage_type, strategy, replication_mode


def publishing_settings(write: VersionWrite) -> Publishing:
    """The account settings, then `replicaCount`, `excludeFromLatest`, `endOfLifeDate`, `publishedDate`."""
    pp_in, cur_pp = write.pp_in, write.cur_pp
    settings = Publishing(*account_settings(write))
    settings.replica_count = positive_int(
        pp_in.get("replicaCount", cur_pp.get("replicaCount", 1)), f"{PP}.replicaCount"
    )
    exclude = pp_in.get("excludeFromLatest", cur_pp.get("excludeFromLatest", False))
    if not isinstance(exclude, bool):
        raise invalid_parameter(
            f"The value '{exclude}' of 'excludeFromLatest' is not a boolean.", f"{PP}.excludeFromLatest"
        )
    settings.exclude = exclude
    settings.eol = end_of_life(write)
    settings.published = cur_pp.get("publishedDate") or format_iso(write.now)
    # From 2026-03-03 Azure defaults a new version's endOfLifeDate to publish + 6 months (PRODUCT.md
    # section 2).
    if write.existing is None and settings.eol is None and api_at_least(write.api, "2026-03-03"):
        settings.eol = format_iso(add_months(write.now, 6))
    return settings


def end_of_life(write: VersionWrite) -> str | None:
    """The `endOfLifeDate` given (null clears it), else the stored one."""
    if "endOfLifeDate" not in write.pp_in:
        eol: str | None = write.cur_pp.get("endOfLifeDate")
        return eol
    eol_value = write.pp_in["endOfLifeDate"]
    if eol_value is None:
        return None
    try:
        return format_iso(parse_iso(str(eol_value)))
    except ValueError as exc:
        raise invalid_parameter(
            f"The value '{eol_value}' of 'endOfLifeDate' is not a valid date-time.",
            f"{PP}.endOfLifeDate",
        ) from exc


def safety_profile(write: VersionWrite) -> dict[str, Any]:
    """`safetyProfile`: what the request sets, else what is stored, else the defaults of its api-version."""
    # Safety profile.
    sp_in = as_object(write.props_in.get("safetyProfile"), "safetyProfile")
    cur_sp: dict[str, Any] = write.current.get("safetyProfile", {})
    allow_removal = sp_in.get("allowDeletionOfReplicatedLocations")
    if allow_removal is None:
        allow_removal = cur_sp.get("allowDeletionOfReplicatedLocations", False)
    block = sp_in.get("blockDeletionBeforeEndOfLife")
    if block is None:
        block = cur_sp.get("blockDeletionBeforeEndOfLife")
    if block is None:
        # From 2026-03-03 Azure defaults a new version's blockDeletionBeforeEndOfLife to true (PRODUCT.md
        # section 2).
        block = write.existing is None and api_at_least(write.api, "2026-03-03")
    return {
        "allowDeletionOfReplicatedLocations": bool(allow_removal),
        "reportedForPolicyViolation": False,
        "blockDeletionBeforeEndOfLife": bool(block),
    }


def publishing_profile(
    write: VersionWrite, settings: Publishing, targets: list[dict[str, Any]]
) -> dict[str, Any]:
    """`publishingProfile` as stored: the settings, the target regions and the extended locations."""
    pp_in = write.pp_in
    publishing: dict[str, Any] = {
        "targetRegions": targets,
        "replicaCount": settings.replica_count,
        "excludeFromLatest": settings.exclude,
        "publishedDate": settings.published,
    }
    if settings.eol is not None:
        publishing["endOfLifeDate"] = settings.eol
    if settings.storage_type:
        publishing["storageAccountType"] = settings.storage_type
    if settings.strategy:
        publishing["storageAccountStrategy"] = settings.strategy
    if settings.replication_mode:
        publishing["replicationMode"] = settings.replication_mode
    if "targetExtendedLocations" in pp_in or write.req.method == "PATCH" or not pp_in:
        extended = pp_in.get("targetExtendedLocations", write.cur_pp.get("targetExtendedLocations"))
    else:
        # A PUT whose publishingProfile omits them removes them: cli-recordings/
        # test_image_version_with_target_extended_locations.yaml interaction 43 (answer without them).
        extended = None
    if extended is not None:
        publishing["targetExtendedLocations"] = extended_locations(extended)
    return publishing


def storage_profile(write: VersionWrite) -> dict[str, Any]:
    """`storageProfile` as stored: the request's at create (with the sizes Azure reports), else the stored
    one."""
    # Storage profile: required with a source at create; the source cannot change afterwards.
    storage_in = write.props_in.get("storageProfile")
    if write.existing is None:
        storage = as_object(storage_in, "storageProfile")
        if not has_source(storage):
            raise invalid_parameter(
                "A source is required: storageProfile.source (id, virtualMachineId, "
                "communityGalleryImageId) or "
                "storageProfile.osDiskImage.source.",
                "galleryImageVersion.properties.storageProfile",
            )
        return disks.with_sizes(write.state, storage)  # sizeInGB as Azure reports it from the source
    storage = copy.deepcopy(write.current.get("storageProfile", {}))
    new_source = as_object(as_object(storage_in, "storageProfile").get("source"), "source")
    old_source = storage.get("source") or {}
    for key in ("id", "virtualMachineId", "communityGalleryImageId"):
        if (
            new_source.get(key)
            and old_source.get(key)
            and str(new_source[key]).lower() != str(old_source[key]).lower()
        ):
            raise conflict(
                "PropertyChangeNotAllowed",
                f"Changing property 'storageProfile.source.{key}' is not allowed.",
                f"galleryImageVersion.properties.storageProfile.source.{key}",
            )
    return storage


def replication_plan(write: VersionWrite, targets: list[dict[str, Any]]) -> dict[str, RegionReplication]:
    """Each target region's replication after the write."""
    state, now, version_id = write.state, write.now, write.version_id
    cur_targets, old_replication = write.cur_targets, write.old_replication
    # Replication: new regions, regions whose replica count changed and failed regions start now.
    duration = timedelta(seconds=max(0.0, state.config.replication_seconds))
    replication: dict[str, RegionReplication] = {}
    for entry in targets:
        key = regions.normalize(entry["name"])
        prev_repl = old_replication.get(key)
        prev_entry = cur_targets.get(key)
        if (
            prev_repl is not None
            and not prev_repl.failed
            and prev_entry is not None
            and prev_entry.get("regionalReplicaCount") == entry["regionalReplicaCount"]
        ):
            replication[key] = prev_repl
        else:
            failed = region_fails(state, version_id, key)
            replication[key] = RegionReplication(
                now,
                now + duration,
                failed=failed,
                lag=region_lag(state, version_id, key),
                details=REGION_FAIL_DETAILS if failed else "",
            )
    return replication


def check_update_names_storage(
    existing: Resource | None, body: dict[str, Any], props_in: dict[str, Any]
) -> None:
    """An update that sends properties must send `storageProfile`."""
    if existing is not None and "properties" in body and "storageProfile" not in props_in:
        # GalleryImageVersionUpdate.properties is GalleryImageVersionProperties, whose `required` lists
        # storageProfile (GalleryRP 2025-03-03 spec); every update example sends one, `{}` included
        # (GalleryImageVersion_Update_WithoutSourceId). A tags-only PATCH has no properties at all.
        raise invalid_parameter(
            "Required parameter 'storageProfile' is missing (null).",
            "galleryImageVersion.properties.storageProfile",
        )


def check_end_of_life(version: Resource, now: datetime) -> None:
    """`safetyProfile.blockDeletionBeforeEndOfLife` refuses a deletion before `endOfLifeDate`."""
    safety = version.properties.get("safetyProfile", {})
    eol = version.properties.get("publishingProfile", {}).get("endOfLifeDate")
    if safety.get("blockDeletionBeforeEndOfLife") and eol and now < parse_iso(eol):
        raise conflict(
            "OperationNotAllowed",
            f"Gallery image version '{version.id}' cannot be deleted before its end of life date {eol} "
            "because "
            "'safetyProfile.blockDeletionBeforeEndOfLife' is true.",
            "galleryImageVersion.properties.safetyProfile.blockDeletionBeforeEndOfLife",
        )
