"""What the platform says about a gallery image version: the validations it ran (`validationsProfile`) and
the policy violations it reported (`safetyProfile.reportedForPolicyViolation`, `policyViolations`), set by
the control endpoint `POST /_emulator/validation` (Azure runs and reports these itself; nobody writes them).

Sources:
* Shapes and enums: GalleryRP 2025-03-03 (../shared/reference/arm-spec/GalleryRP.2025-03-03.json)
  definitions `ValidationsProfile` {validationEtag, executedValidations[], platformAttributes[]},
  `ExecutedValidation` {type, status, version, executionTime}, `ValidationStatus` (Unknown | Failed |
  Succeeded), `GalleryImageVersionSafetyProfile.reportedForPolicyViolation` / `policyViolations[]` (both
  readOnly), `PolicyViolation` {category, details}, `PolicyViolationCategory` (Other | ImageFlaggedUnsafe |
  CopyrightValidation | IpTheft).
* `validationsProfile` only with `$expand=ValidationProfile` on a GET (alone or with ReplicationStatus):
  examples GalleryImageVersion_Get_WithValidationProfile.json and
  GalleryImageVersion_Get_WithValidationProfileAndReplicationStatus.json (`"$expand":
  "ValidationProfile,ReplicationStatus"`). The spec's `$expand` enum lists only ReplicationStatus and
  UefiSettings but is modelAsString. Whether a list carries it is not documented: the stricter reading, it
  does not (a client must GET the version with the expand).
* `validationEtag`: "The published time of the image version" (the spec's description): the platform's
  verdict is about one publication, so signals set for a version that was since deleted and published again
  under the same name do not show.
* Api-versions: `ValidationsProfile` and `restore` arrive together in the SDKs generated from GalleryRP
  2024-03-03 (azure-sdk-for-go armcompute CHANGELOG 6.2.0: "New field `Restore`, `ValidationsProfile` in
  struct `GalleryImageVersionProperties`"), which the issue that asked for these fields also names.
  `reportedForPolicyViolation` / `policyViolations` are older: GalleryRP 2022-03-03 defines both
  (`GalleryImageVersionSafetyProfile` in specification/compute/resource-manager/Microsoft.Compute/GalleryRP/
  stable/2022-03-03/gallery.json @04ec3f55), and Azure answers `reportedForPolicyViolation: false` at
  2022-03-03 (cli-recordings/test_image_version_create_for_diff_source.yaml interaction 35, and every
  version read in those recordings). Before 2022-03-03 (not checked), the stricter reading: neither field.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from emulator.arm import Request, Response, api_at_least
from emulator.clock import format_iso
from emulator.errors import ArmError
from emulator.galleries.model import ImageVersion

if TYPE_CHECKING:
    from emulator.state import State

SINCE = "2024-03-03"  # validationsProfile
VIOLATIONS_SINCE = "2022-03-03"  # safetyProfile.reportedForPolicyViolation, policyViolations
VALIDATION_STATUSES = ("Unknown", "Failed", "Succeeded")  # ValidationStatus
VIOLATION_CATEGORIES = (
    "Other",
    "ImageFlaggedUnsafe",
    "CopyrightValidation",
    "IpTheft",
)  # PolicyViolationCategory


def _published(res: ImageVersion) -> str | None:
    value = res.properties.get("publishingProfile", {}).get("publishedDate")
    return str(value) if value else None


def shape(state: State, res: ImageVersion, body: dict[str, Any], req: Request, expand: set[str]) -> None:
    """Put the platform's signals into a rendered version body as the request's api-version has them."""
    props = body.setdefault("properties", {})
    props.pop("validationsProfile", None)
    safety = props.get("safetyProfile")
    if not api_at_least(req.api_version, VIOLATIONS_SINCE):
        if isinstance(safety, dict):
            safety.pop("reportedForPolicyViolation", None)
            safety.pop("policyViolations", None)
        return
    signals = _signals(state, res)
    if isinstance(safety, dict):
        violations = copy.deepcopy(signals.get("policyViolations", []))
        safety["reportedForPolicyViolation"] = bool(signals.get("reportedForPolicyViolation", False))
        if violations:
            safety["policyViolations"] = violations
        else:
            safety.pop("policyViolations", None)
    if "validationprofile" in expand and api_at_least(req.api_version, SINCE):
        props["validationsProfile"] = {
            "executedValidations": copy.deepcopy(signals.get("executedValidations", [])),
            "platformAttributes": [],
            "validationEtag": _published(res),
        }


def _signals(state: State, res: ImageVersion) -> dict[str, Any]:
    found = state.platform_signals.get(res.id.lower())
    if found is None or found.get("validationEtag") != _published(res):
        return {}
    return found


def set_signals(state: State, body: Any) -> Response:
    """`POST /_emulator/validation {"version_id", "executedValidations": [{"type", "status", "version"}],
    "reportedForPolicyViolation": bool, "policyViolations": [{"category", "details"}]}`: a field left out
    keeps its value."""
    if not isinstance(body, dict) or not isinstance(body.get("version_id"), str):
        raise ArmError(400, "InvalidRequestContent", 'Expected {"version_id", ...} with a version id.')
    res = state.get(body["version_id"])
    if not isinstance(res, ImageVersion):
        raise ArmError(404, "ResourceNotFound", f"No image version {body['version_id']!r}.")
    current = copy.deepcopy(_signals(state, res))
    if "executedValidations" in body:
        current["executedValidations"] = [
            _validation(item, index, state) for index, item in enumerate(_list(body, "executedValidations"))
        ]
    if "reportedForPolicyViolation" in body:
        if not isinstance(body["reportedForPolicyViolation"], bool):
            raise ArmError(400, "InvalidRequestContent", "'reportedForPolicyViolation' must be a boolean.")
        current["reportedForPolicyViolation"] = body["reportedForPolicyViolation"]
    if "policyViolations" in body:
        current["policyViolations"] = [
            _violation(item, index) for index, item in enumerate(_list(body, "policyViolations"))
        ]
    current["validationEtag"] = _published(res)
    state.platform_signals[res.id.lower()] = current
    return Response(200, {"version_id": res.id, **copy.deepcopy(current)})


def _list(body: dict[str, Any], name: str) -> list[Any]:
    value = body[name]
    if not isinstance(value, list):
        raise ArmError(400, "InvalidRequestContent", f"'{name}' must be a list.")
    return value


def _validation(item: Any, index: int, state: State) -> dict[str, Any]:
    where = f"executedValidations[{index}]"
    if not isinstance(item, dict) or not isinstance(item.get("type"), str) or not item["type"].strip():
        raise ArmError(400, "InvalidRequestContent", f"'{where}.type' must be a non-empty string.")
    status = next((s for s in VALIDATION_STATUSES if s.lower() == str(item.get("status", "")).lower()), None)
    if status is None:
        raise ArmError(
            400,
            "InvalidRequestContent",
            f"'{where}.status' {item.get('status')!r} is not one of {', '.join(VALIDATION_STATUSES)}.",
        )
    out: dict[str, Any] = {"type": item["type"].strip(), "status": status}
    if item.get("version") is not None:
        out["version"] = str(item["version"])
    out["executionTime"] = format_iso(state.now())
    return out


def _violation(item: Any, index: int) -> dict[str, Any]:
    where = f"policyViolations[{index}]"
    category = next(
        (
            c
            for c in VIOLATION_CATEGORIES
            if isinstance(item, dict) and c.lower() == str(item.get("category", "")).lower()
        ),
        None,
    )
    if category is None:
        got = item.get("category") if isinstance(item, dict) else item
        raise ArmError(
            400,
            "InvalidRequestContent",
            f"'{where}.category' {got!r} is not one of {', '.join(VIOLATION_CATEGORIES)}.",
        )
    out: dict[str, Any] = {"category": category}
    if item.get("details") is not None:
        out["details"] = str(item["details"])
    return out
