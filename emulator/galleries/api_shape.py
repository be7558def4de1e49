"""Gallery bodies shaped by the requested api-version: a field Azure added in a later GalleryRP version is
absent at an older one, and a few fields Azure answers only when set. Applied to every gallery, image
definition and version answer (handlers.handle), after the family's rules made the body.

Fields added later (the api-version each first appears in the REST specs, Azure/azure-rest-api-specs
`specification/compute/resource-manager/Microsoft.Compute/GalleryRP/stable/`):
* `publishingProfile.targetRegions[].excludeFromLatest`: 2022-03-03 (`TargetRegion` in 2021-10-01/
  gallery.json @ba16d1ab has no such property; 2022-03-03/gallery.json @04ec3f55 has it; 2022-01-03 was
  not checked, so the stricter reading counts it absent there).
* `safetyProfile.blockDeletionBeforeEndOfLife`: 2024-03-03 (`GalleryImageVersionSafetyProfile` in
  2023-07-03/gallery.json @31b39979 lacks it; 2024-03-03/GalleryRP.json @015e1827 has it).
* `publishingProfile.storageAccountStrategy`: 2025-03-03 (2024-03-03/GalleryRP.json @015e1827
  `GalleryArtifactPublishingProfileBase` lacks it; ../shared/reference/arm-spec/GalleryRP.2025-03-03.json
  has it).
* `softDeletePolicy.retentionPeriodInDays`: no GalleryRP spec up to 2025-03-03 defines it (`SoftDeletePolicy`
  has only `isSoftDeleteEnabled` in GalleryRP.2025-03-03.json), and the recorded answer at 2021-10-01
  (cli-recordings/test_gallery_soft_delete.yaml 42) has none: shown from 2026-03-03 only.

Answered only when set (recorded, at the api-versions named; newer ones keep the emulator's fuller answer,
which the 2026-03-03 examples show, e.g. sharingExamples/CommunityGallery_Get.json with `sharingStatus`):
* a gallery's `sharingProfile` and `softDeletePolicy` when the gallery never set them: absent below
  2026-03-03 (cli-recordings/test_gallery_e2e.yaml 1 and 3 at 2021-10-01, test_gallery_image_definition_
  update_features.yaml 1 and 3 at 2025-03-03, recordings/azure-mgmt-compute-17.0.0_..._api2019-12-01.yaml),
  except where older versions answered a default: at 2020-09-30 PUT and PATCH answers carry
  `sharingProfile` (Private) while GETs do not (recordings/azure-mgmt-compute-20.0.0_..._api2020-09-30.yaml
  6, 42 and 8, 44), and at 2021-07-01 every answer carries `softDeletePolicy`
  (recordings/azure-mgmt-compute-23.1.0_..._api2021-07-01.yaml 6-43). Once set, even back to Private, they
  are answered (test_community_gallery_operations.yaml 61);
* a gallery's `sharingStatus`: absent below 2026-03-03 (test_community_gallery_operations.yaml 51 at
  2021-10-01: a community gallery without it);
* a target region's `excludeFromLatest` when false: absent below 2024-03-03 (every 2022-03-03 version answer
  in the recordings, e.g. test_image_version_create_for_diff_source.yaml 35; the 2024-03-03 example
  GalleryImageVersion_Get.json answers `false`). Whether Azure echoes an explicit false there is unconfirmed;
  the stricter reading omits it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from emulator.arm import api_date
from emulator.galleries.model import GALLERY, VERSION

if TYPE_CHECKING:
    from emulator.state import State

FULL_ANSWERS = "2026-03-03"


def _answers_default(key: str, api: str, method: str) -> bool:
    """Whether Azure answers a gallery's never-set `key` with its default at `api` (module docstring)."""
    if key == "sharingProfile":
        return "2020-09-30" <= api < "2021-07-01" and method in ("PUT", "PATCH")
    return "2021-07-01" <= api < "2021-10-01"


def _gallery(state: State, body: dict[str, Any], api: str, method: str) -> None:
    props = body.get("properties")
    if not isinstance(props, dict) or api >= FULL_ANSWERS:
        return
    stored = state.get(str(body.get("id") or ""))
    given = stored.properties if stored is not None else {}
    for key in ("sharingProfile", "softDeletePolicy"):
        if key not in given and not _answers_default(key, api, method):
            props.pop(key, None)
    props.pop("sharingStatus", None)
    policy = props.get("softDeletePolicy")
    if isinstance(policy, dict):
        policy.pop("retentionPeriodInDays", None)


def _version(body: dict[str, Any], api: str) -> None:
    props = body.get("properties")
    if not isinstance(props, dict):
        return
    publishing = props.get("publishingProfile")
    if isinstance(publishing, dict):
        if api < "2025-03-03":
            publishing.pop("storageAccountStrategy", None)
        for region in publishing.get("targetRegions") or []:
            if not isinstance(region, dict):
                continue
            if api < "2022-03-03" or (api < "2024-03-03" and region.get("excludeFromLatest") is False):
                region.pop("excludeFromLatest", None)
    safety = props.get("safetyProfile")
    if isinstance(safety, dict) and api < "2024-03-03":
        safety.pop("blockDeletionBeforeEndOfLife", None)


def shape(state: State, body: Any, api_version: str, method: str = "GET") -> Any:
    """`body` (a resource or a `{value: [...]}` page) as Azure answers it at `api_version`; in place."""
    api = api_date(api_version)
    if not api or not isinstance(body, dict):
        return body
    page = body.get("value")
    items: list[Any] = page if isinstance(page, list) else [body]
    for item in items:
        if not isinstance(item, dict):
            continue
        kind = str(item.get("type") or "")
        if kind == GALLERY:
            _gallery(state, item, api, method)
        elif kind == VERSION:
            _version(item, api)
    return body
