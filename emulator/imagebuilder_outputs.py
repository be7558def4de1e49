"""What an Image Builder template reports and makes beyond its runs: the defaults Azure fills into a
template, the gallery image version a successful run publishes, `runOutputs` and `triggers`.

* Template defaults (cli-recordings/test_image_builder_basic_sig.yaml interactions 16 and 20, api-version
  2022-07-01): `source.exactVersion` (a platform image's version; for `latest`, the newest published
  version the emulator knows), every distribution's `artifactTags: {}` and `excludeFromLatest: false`, a
  SharedImage distribution's `versioning: null`, `vmProfile {vmSize: "", osDiskSizeGB: 0}` and
  `stagingResourceGroup: ""`.
* Publishing: a run that succeeds creates, for each `SharedImage` distribution, a version of the
  definition `galleryImageId` in the gallery (targetRegions: the gallery's region, then
  `replicationRegions` / `targetRegions`; `excludeFromLatest`, `storageAccountType` and `artifactTags` as
  tags). The version's name follows `versioning` (DistributeVersionerLatest / DistributeVersionerSource in
  azure-mgmt-imagebuilder 2.0.0's models): Latest takes the newest existing version (of `major` when set)
  and adds one to its patch, `{major or 0}.0.1`... from none (the emulator's reading: Azure documents only
  "latest based on existing version numbers"); Source takes the platform image's exactVersion when it is
  Major.Minor.Patch, else falls back to Latest. Without `versioning`, Latest. The version is created
  through the gallery's own rules at api-version 2024-03-03 (the emulator's choice) and replicates as any
  other; its source is an image in the template's staging resource group (30 GiB, as for any source the
  emulator does not hold). ManagedImage and VHD distributions are reported in runOutputs only.
* `runOutputs` (RunOutput in the same models; Operations_List names `imageTemplates/runOutputs/read`,
  ../shared/reference/rbac/imagebuilder_OperationsList.2024-02-01.json): GET list and one, after a
  successful run: `{id, name: runOutputName, type, properties {artifactId | artifactUri,
  provisioningState: Succeeded}}`; 404 before.
* `triggers` (Trigger, SourceImageTriggerProperties; api-version 2022-07-01 and later): PUT `{properties:
  {kind: SourceImage}}` (201 + operation), GET, list, DELETE. Azure allows source-image triggers only for
  a template whose source is a gallery image version addressed as latest
  (https://learn.microsoft.com/azure/virtual-machines/image-builder-triggers-how-to): anything else is
  refused with 400 InvalidParameter (the emulator's wording). A trigger reads `status {code: Healthy,
  message: "", time}`; the emulator does not start runs on its own when the source changes.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from emulator import envelope, lro, marketplace, regions
from emulator.arm import Request, Response, Route, page, parse_arm_path, resource_id
from emulator.clock import format_iso
from emulator.errors import ArmError, invalid_parameter, not_found
from emulator.state import Operation, Resource
from emulator.writes import child_of

if TYPE_CHECKING:
    from emulator.state import State

PROVIDER = "Microsoft.VirtualMachineImages"
TEMPLATE = "Microsoft.VirtualMachineImages/imageTemplates"
RUN_OUTPUT = "Microsoft.VirtualMachineImages/imageTemplates/runOutputs"
TRIGGER = "Microsoft.VirtualMachineImages/imageTemplates/triggers"
GALLERY_API = "2024-03-03"
_VERSION = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")


def template_defaults(state: State, props: dict[str, Any]) -> None:
    source = props.get("source")
    if isinstance(source, dict) and str(source.get("type", "")).lower() == "platformimage":
        version = str(source.get("version") or "latest")
        source["exactVersion"] = _latest_platform(state, source) if version.lower() == "latest" else version
    for item in props.get("distribute") or []:
        if not isinstance(item, dict):
            continue
        item.setdefault("artifactTags", {})
        if str(item.get("type", "")).lower() == "sharedimage":
            item.setdefault("versioning", None)
            item.setdefault("excludeFromLatest", False)
    given = props.get("vmProfile")
    vm_profile: dict[str, Any] = given if isinstance(given, dict) else {}
    props["vmProfile"] = {"vmSize": "", "osDiskSizeGB": 0, **vm_profile}
    props.setdefault("stagingResourceGroup", "")


def _latest_platform(state: State, source: dict[str, Any]) -> str:
    wanted = tuple(str(source.get(k, "")).lower() for k in ("publisher", "offer", "sku"))
    for key, versions in state.marketplace.items():
        if key[1:] == wanted and versions:
            return max(versions, key=marketplace.numeric)
    return "latest"


def _next_version(state: State, image: Resource, item: dict[str, Any], template: Resource) -> str:
    given = item.get("versioning")
    versioning: dict[str, Any] = given if isinstance(given, dict) else {}
    if str(versioning.get("scheme", "")).lower() == "source":
        exact = str((template.properties.get("source") or {}).get("exactVersion") or "")
        if _VERSION.match(exact):
            return exact
    major = versioning.get("major")
    major = major if isinstance(major, int) and major >= 0 else None
    existing = [
        tuple(int(p) for p in m.groups())
        for v in state.children(image.id, "Microsoft.Compute/galleries/images/versions")
        if (m := _VERSION.match(v.name))
    ]
    if major is not None:
        existing = [v for v in existing if v[0] == major]
    if not existing:
        return f"{major or 0}.0.1"
    top = max(existing)
    return f"{top[0]}.{top[1]}.{top[2] + 1}"


def publish(state: State, template: Resource) -> list[dict[str, Any]]:
    """Create what a successful run distributes; the run outputs, as runOutputs lists them."""
    from emulator.galleries import RESOURCE_TYPES as GALLERY_TYPES
    from emulator.galleries.handlers import write_resource

    outputs: list[dict[str, Any]] = []
    staging = str(template.properties.get("exactStagingResourceGroup") or "")
    for item in template.properties.get("distribute") or []:
        if not isinstance(item, dict):
            continue
        kind = str(item.get("type", "")).lower()
        name = str(item.get("runOutputName") or kind)
        output: dict[str, Any] = {"name": name, "provisioningState": "Succeeded"}
        if kind == "sharedimage":
            image = state.get(str(item.get("galleryImageId") or ""))
            if image is None:
                output["provisioningState"] = "Failed"
                outputs.append(output)
                continue
            version = _next_version(state, image, item, template)
            version_id = f"{image.id}/versions/{version}"
            home = regions.normalize(image.location)
            wanted = [regions.normalize(str(r)) for r in item.get("replicationRegions") or []]
            wanted += [
                regions.normalize(str(t.get("name")))
                for t in item.get("targetRegions") or []
                if isinstance(t, dict)
            ]
            names = [home, *[r for r in dict.fromkeys(wanted) if r != home]]
            body = {
                "location": image.location,
                "tags": dict(item.get("artifactTags") or {}),
                "properties": {
                    "publishingProfile": {
                        "targetRegions": [
                            {
                                "name": n,
                                "storageAccountType": item.get("storageAccountType") or "Standard_LRS",
                            }
                            for n in names
                        ],
                        "excludeFromLatest": bool(item.get("excludeFromLatest", False)),
                    },
                    "storageProfile": {
                        "source": {
                            "id": f"{staging}/providers/Microsoft.Compute/images/{template.name}-{name}"
                        }
                    },
                },
            }
            arm_path = parse_arm_path(version_id)
            assert arm_path is not None
            rtype = next(t for t in GALLERY_TYPES if len(t.types) == 3)
            req = Request("PUT", version_id, {"api-version": GALLERY_API}, {}, json.dumps(body).encode(), "")
            try:
                write_resource(state, req, Route(rtype, arm_path, "instance"), 3)
            except ArmError as err:
                output["provisioningState"] = "Failed"
                output["error"] = err.body()["error"]
            output["artifactId"] = version_id
        elif kind == "managedimage":
            output["artifactId"] = str(item.get("imageId") or "")
        else:
            output["artifactUri"] = str(
                item.get("uri") or f"https://{template.name}.blob.core.windows.net/{name}.vhd"
            )
        outputs.append(output)
    return outputs


def _template(state: State, route: Route) -> Any:
    from emulator.imagebuilder import ImageTemplate

    if route.path.resource_group is None:
        raise ArmError(404, "InvalidResourceType", f"The resource type '{TEMPLATE}' needs a resource group.")
    template = state.get(resource_id(route.path, 1))
    if not isinstance(template, ImageTemplate):
        raise not_found(TEMPLATE, route.names[0], route.path.resource_group)
    return template


def handle_run_outputs(state: State, req: Request, route: Route) -> Response:
    if req.method != "GET":
        raise ArmError(405, "MethodNotAllowed", f"The {req.method} method is not allowed.")
    template = _template(state, route)
    outputs = template.run.outputs if template.run is not None else []

    def render(output: dict[str, Any]) -> dict[str, Any]:
        props = {k: v for k, v in output.items() if k in ("artifactId", "artifactUri", "provisioningState")}
        return {
            "id": f"{template.id}/runOutputs/{output['name']}",
            "name": output["name"],
            "type": RUN_OUTPUT,
            "properties": props,
        }

    if route.kind == "collection":
        return page(state, req, [render(o) for o in outputs])
    found = next((o for o in outputs if o["name"].lower() == route.names[-1].lower()), None)
    if found is None:
        raise not_found(RUN_OUTPUT, f"{template.name}/{route.names[-1]}", route.path.resource_group)
    return Response(200, render(found))


def handle_triggers(state: State, req: Request, route: Route) -> Response:
    template = _template(state, route)
    triggers: dict[str, Resource] = template.triggers
    if route.kind == "collection":
        if req.method != "GET":
            raise ArmError(
                405, "MethodNotAllowed", f"The {req.method} method is not allowed on a collection."
            )
        return page(state, req, [_render_trigger(t) for t in triggers.values()])
    name = route.names[-1]
    found = triggers.get(name.lower())
    if req.method == "GET":
        if found is None:
            raise not_found(TRIGGER, f"{template.name}/{name}", route.path.resource_group)
        return Response(200, _render_trigger(found))
    if req.method == "DELETE":
        if found is None:
            return Response(204)
        del triggers[name.lower()]
        op = instant_operation(state, template)
        return Response(202, None, lro.headers(req, op, with_location=True))
    if req.method != "PUT":
        raise ArmError(405, "MethodNotAllowed", f"The {req.method} method is not allowed.")
    body = req.json()
    props = body.get("properties") if isinstance(body, dict) else None
    if not isinstance(props, dict) or str(props.get("kind", "")) != "SourceImage":
        raise invalid_parameter("A trigger's 'properties.kind' must be 'SourceImage'.", "properties.kind")
    source = template.properties.get("source") or {}
    if str(source.get("type", "")).lower() != "sharedimageversion" or not str(
        source.get("imageVersionId", "")
    ).lower().endswith("/versions/latest"):
        raise invalid_parameter(
            "A source image trigger needs a template whose source is a SharedImageVersion addressed as "
            "'.../versions/latest'.",
            "properties.kind",
        )
    status = {"code": "Healthy", "message": "", "time": format_iso(state.now())}
    trigger = child_of(state, template, TRIGGER, name, {"kind": "SourceImage", "status": status})
    created = found is None
    triggers[name.lower()] = trigger
    op = instant_operation(state, template)
    return Response(201 if created else 200, _render_trigger(trigger), lro.headers(req, op))


def instant_operation(state: State, template: Resource) -> Operation:
    """An Image Builder operation that is over as it starts and cannot fail (a cancel, a trigger's write)."""
    return lro.start(
        state,
        template.subscription,
        template.location,
        state.now(),
        None,
        provider=PROVIDER,
        collection="operations",
        may_fail=False,
    )


def _render_trigger(trigger: Resource) -> dict[str, Any]:
    return envelope.render(trigger, head=envelope.CHILD)
