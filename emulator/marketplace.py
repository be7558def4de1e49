"""Marketplace (platform) image versions: ComputeRP's VirtualMachineImages_List and VirtualMachineImages_Get
under `/subscriptions/{s}/providers/Microsoft.Compute/locations/{loc}/publishers/{p}/artifacttypes/vmimage
/offers/{o}/skus/{k}/versions[/{v}]`, and the control endpoint `POST /_emulator/marketplace` that publishes
one version (Azure's Marketplace is read-only to its consumers, so tests need another way in).

Sources:
* Paths, parameters and bodies: ComputeRP 2025-11-01 examples in ../shared/reference/arm-spec/examples/
  computeExamples/VirtualMachineImage_{List,Get}_*_Gen.json (list = a bare JSON array of
  `{name, location, id[, tags]}`; get = the same object with `properties`); `$expand=properties` answers
  `{value: [...]}` as in VirtualMachineImages_ListWithProperties_MaximumSet_Gen.json.
* The id's spelling (`/Subscriptions/.../Providers/Microsoft.Compute/Locations/{loc}/Publishers/{p}/
  ArtifactTypes/VMImage/Offers/{o}/Skus/{k}/Versions/{v}`): a real answer quoted in Azure/azure-cli#182.
* `properties.imageDeprecationStatus` {imageState, scheduledDeprecationTime, alternativeOption {type, value}}:
  ComputeRP `virtualMachineImage.json` `ImageDeprecationStatus` (enums `ImageState` Active |
  ScheduledForDeprecation | Deprecated, `AlternativeType` None | Offer | Plan), in the Get example above
  (VirtualMachineImage_Get_MaximumSet_Gen.json) and in the `$expand=properties` list; the property is part of
  ComputeRP since api-version 2022-11-01 (the Azure CLI's "`az vm image list`: Expose ImageDeprecationStatus
  property in output" followed it), so an older api-version does not see it. Set by
  `POST /_emulator/marketplace` with an `imageDeprecationStatus` field (on a new or a published version).
* Unknown publisher/offer/sku/version: 404 `NotFound` "Artifact: VMImage was not found." for both list and
  get, as real answers quoted in Azure/vagrant-azure#147 and danielsollondon/azvmimagebuilder#80 show.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from emulator import regions
from emulator.arm import Request, ResourceType, Response, Route, api_at_least
from emulator.clock import format_iso, parse_iso
from emulator.errors import ArmError

if TYPE_CHECKING:
    from emulator.state import State

TYPE_PATH = ("locations", "publishers", "artifacttypes", "offers", "skus", "versions")
# ComputeRP's ImageReference.version: "The allowed formats are Major.Minor.Build or 'latest'. Major, Minor,
# and Build are decimal numbers." A published version is never 'latest'. Names (publisher, offer, sku) are
# letters, digits, '-', '_' and '.' in every published URN seen; unconfirmed, so anything else is refused.
_VERSION = re.compile(r"^\d{1,9}\.\d{1,9}\.\d{1,18}$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
DEPRECATION_SINCE = "2022-11-01"
IMAGE_STATES = ("Active", "ScheduledForDeprecation", "Deprecated")  # ComputeRP ImageState
ALTERNATIVE_TYPES = ("None", "Offer", "Plan")  # ComputeRP AlternativeType


def _not_found() -> ArmError:
    # The exact code and text of real answers (Azure/vagrant-azure#147, danielsollondon/azvmimagebuilder#80).
    return ArmError(404, "NotFound", "Artifact: VMImage was not found.")


# What every recorded VirtualMachineImages_Get answers besides the image's own facts (cli-recordings:
# test_shared_gallery.yaml 11, test_create_image_version_with_region_cvm_encryption.yaml 24, api-version
# 2023-09-01): the emulator's values when the publisher (a test) gives none.
DEFAULT_PROPERTIES: dict[str, Any] = {
    "hyperVGeneration": "V2",
    "architecture": "x64",
    "replicaType": "Managed",
    "disallowed": {"vmDiskType": "None"},
    "automaticOSUpgradeProperties": {"automaticOSUpgradeSupported": False},
    "imageDeprecationStatus": {"imageState": "Active"},
    "features": [],
    "osDiskImage": {"operatingSystem": "Linux"},
    "dataDiskImages": [],
}


@dataclass
class MarketplaceVersion:
    location: str  # programmatic region name
    publisher: str
    offer: str
    sku: str
    version: str
    seq: int
    # The catalogue's facts about this image (`POST /_emulator/marketplace` "properties"), over the defaults.
    properties: dict[str, Any] = field(default_factory=dict)
    deprecation: dict[str, Any] | None = None  # imageDeprecationStatus, as set

    def render(self, subscription: str, with_properties: bool, api: str = "") -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": self.version,
            "location": self.location,
            "id": (
                f"/Subscriptions/{subscription}/Providers/Microsoft.Compute/Locations/{self.location}"
                f"/Publishers/{self.publisher}/ArtifactTypes/VMImage/Offers/{self.offer}/Skus/{self.sku}"
                f"/Versions/{self.version}"
            ),
        }
        if with_properties:
            # The spec's Get example's shape; values the emulator can vouch for only.
            props = {**copy.deepcopy(DEFAULT_PROPERTIES), **copy.deepcopy(self.properties)}
            given = props.pop("imageDeprecationStatus", None)
            if api_at_least(api, DEPRECATION_SINCE):
                props["imageDeprecationStatus"] = dict(self.deprecation or given or {"imageState": "Active"})
            body["properties"] = props
        return body


def _key(location: str, publisher: str, offer: str, sku: str) -> tuple[str, str, str, str]:
    # Publisher, offer and sku names are case-insensitive in ARM paths.
    return regions.normalize(location), publisher.lower(), offer.lower(), sku.lower()


def numeric(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def handle(state: State, req: Request, route: Route) -> Response:
    if req.method != "GET":
        # Consumers can only read the Marketplace (the spec defines GET operations only).
        raise ArmError(405, "MethodNotAllowed", f"The {req.method} method is not allowed.")
    names = route.names
    # names: [location, publisher, artifact type, offer, sku(, version)]
    if names[2].lower() != "vmimage":
        raise _not_found()
    key = _key(names[0], names[1], names[3], names[4])
    versions = state.marketplace.get(key)
    if not versions:
        raise _not_found()
    subscription = route.path.subscription
    if route.kind == "instance":
        found = versions.get(names[5])
        if found is None:
            raise _not_found()
        return Response(200, found.render(subscription, with_properties=True, api=req.api_version))
    if route.kind != "collection":
        raise _not_found()
    items = list(versions.values())
    # The spec does not say in which order the list comes. Unconfirmed, so the stricter reading: name order
    # as strings (2024.10.10 before 2024.10.2), which catches a client that takes the last item as newest.
    order = (req.param("$orderby") or "name").strip().lower()
    if order not in ("name", "name asc", "name desc"):
        raise ArmError(400, "InvalidParameter", f"The value '{order}' of $orderby is not valid.")
    items.sort(key=lambda v: v.version, reverse=order == "name desc")
    top = req.param("$top")
    if top:
        try:
            items = items[: max(0, int(top))]
        except ValueError as exc:
            raise ArmError(400, "InvalidParameter", f"The value '{top}' of $top is not valid.") from exc
    expand = (req.param("$expand") or "").strip().lower()
    if expand == "properties":
        # VirtualMachineImages_ListWithProperties_MaximumSet_Gen.json: an object with `value`.
        return Response(
            200, {"value": [v.render(subscription, with_properties=True, api=req.api_version) for v in items]}
        )
    return Response(200, [v.render(subscription, with_properties=False) for v in items])


def publish(state: State, body: Any) -> Response:
    """`POST /_emulator/marketplace {"location", "publisher", "offer", "sku", "version"[, "properties"]}`;
    `properties` are the image's catalogue facts as VirtualMachineImages_Get answers them."""
    if not isinstance(body, dict):
        raise ArmError(
            400, "InvalidRequestContent", 'Expected {"location", "publisher", "offer", "sku", "version"}.'
        )
    fields = {}
    for name in ("location", "publisher", "offer", "sku", "version"):
        value = body.get(name)
        if not isinstance(value, str) or not value.strip():
            raise ArmError(400, "InvalidRequestContent", f"'{name}' must be a non-empty string.")
        fields[name] = value.strip()
    if not regions.is_known(fields["location"]):
        raise ArmError(400, "InvalidRequestContent", f"Unknown location '{fields['location']}'.")
    for name in ("publisher", "offer", "sku"):
        if not _NAME.match(fields[name]):
            raise ArmError(400, "InvalidRequestContent", f"'{name}' {fields[name]!r} is not a valid name.")
    if not _VERSION.match(fields["version"]):
        raise ArmError(
            400, "InvalidRequestContent", f"'version' {fields['version']!r} is not Major.Minor.Build."
        )
    properties = body.get("properties") or {}
    if not isinstance(properties, dict):
        raise ArmError(400, "InvalidRequestContent", "'properties' must be an object.")
    deprecation = _deprecation(body["imageDeprecationStatus"]) if "imageDeprecationStatus" in body else None
    key = _key(fields["location"], fields["publisher"], fields["offer"], fields["sku"])
    versions = state.marketplace.setdefault(key, {})
    if fields["version"] in versions:
        if deprecation is None:
            raise ArmError(409, "Conflict", f"Version {fields['version']} is already published.")
        versions[fields["version"]].deprecation = deprecation
        return Response(200, {**fields, "imageDeprecationStatus": deprecation})
    entry = MarketplaceVersion(
        location=regions.normalize(fields["location"]),
        publisher=fields["publisher"],
        offer=fields["offer"],
        sku=fields["sku"],
        version=fields["version"],
        seq=state.next_seq(),
        properties=copy.deepcopy(properties),
    )
    entry.deprecation = deprecation
    versions[entry.version] = entry
    out: dict[str, Any] = {**fields, "location": entry.location}
    if deprecation is not None:
        out["imageDeprecationStatus"] = deprecation
    return Response(201, out)


def _deprecation(value: Any) -> dict[str, Any]:
    """An `imageDeprecationStatus` checked against ComputeRP's ImageDeprecationStatus definition."""
    if not isinstance(value, dict):
        raise ArmError(400, "InvalidRequestContent", "'imageDeprecationStatus' must be an object.")
    state = next((s for s in IMAGE_STATES if s.lower() == str(value.get("imageState", "")).lower()), None)
    if state is None:
        raise ArmError(
            400,
            "InvalidRequestContent",
            f"'imageDeprecationStatus.imageState' {value.get('imageState')!r} is not one of "
            f"{', '.join(IMAGE_STATES)}.",
        )
    out: dict[str, Any] = {"imageState": state}
    when = value.get("scheduledDeprecationTime")
    if when is not None:
        try:
            out["scheduledDeprecationTime"] = format_iso(parse_iso(str(when)))
        except ValueError as exc:
            raise ArmError(
                400,
                "InvalidRequestContent",
                f"'imageDeprecationStatus.scheduledDeprecationTime' {when!r} is not a date-time.",
            ) from exc
    alternative = value.get("alternativeOption")
    if alternative is not None:
        kind = next(
            (
                t
                for t in ALTERNATIVE_TYPES
                if isinstance(alternative, dict) and t.lower() == str(alternative.get("type", "")).lower()
            ),
            None,
        )
        if kind is None:
            raise ArmError(
                400,
                "InvalidRequestContent",
                "'imageDeprecationStatus.alternativeOption.type' is not one of "
                f"{', '.join(ALTERNATIVE_TYPES)}.",
            )
        out["alternativeOption"] = {"type": kind}
        if alternative.get("value") is not None:
            out["alternativeOption"]["value"] = str(alternative["value"])
    return out


def listing(state: State) -> Response:
    """`GET /_emulator/marketplace`: every published version as a `publisher:offer:sku:version` URN."""
    out = [
        {"location": v.location, "urn": f"{v.publisher}:{v.offer}:{v.sku}:{v.version}"}
        for versions in state.marketplace.values()
        for v in sorted(versions.values(), key=lambda v: numeric(v.version))
    ]
    return Response(200, out)


RESOURCE_TYPES = (ResourceType("Microsoft.Compute", TYPE_PATH, "vm", handle, subscription_list=False),)
