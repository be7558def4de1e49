"""Microsoft.Compute managed images (`.../providers/Microsoft.Compute/images/{name}`, ComputeRP), kept deep
enough to be a gallery image version's source.

PUT captures a VM (`properties.sourceVirtualMachine.id`) or takes an explicit `storageProfile`, answers
201 with `provisioningState: Creating` and an `Azure-AsyncOperation` on ComputeRP's `operations`
collection, and is Succeeded once the operation is; GET, list (resource group, subscription) and DELETE
(202 + operation) behave like the rest of ComputeRP. Sources:
* the bodies: cli-recordings/test_shared_gallery.yaml interactions 35 (PUT, 201) and 38 (GET): the
  storage profile copies the VM's disks: `osDisk {osType, osState: Generalized, managedDisk.id, caching,
  storageAccountType, diskSizeGB}` and `dataDisks[] {lun, managedDisk.id, caching, storageAccountType,
  diskSizeGB}`; `hyperVGeneration` is echoed;
* the operation: the same recording's interactions 36-37 (`.../locations/westus/operations/{id}`).
Azure refuses to capture a VM that is not generalized; the emulator does not model generalization (a
guest action the product never calls), so it captures any VM it holds. A source VM it does not hold is
refused with 404 NotFound (stricter reading: Azure's exact answer is unconfirmed).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from emulator.arm import (
    Request,
    ResourceType,
    Response,
    Route,
    put_request,
    serve,
)
from emulator.envelope import render
from emulator.errors import ArmError, invalid_parameter
from emulator.state import Resource, validate_tags
from emulator.writes import accept_delete, accept_write, kept

if TYPE_CHECKING:
    from emulator.state import State

IMAGE = "Microsoft.Compute/images"
VM = "Microsoft.Compute/virtualMachines"
HYPERV_GENERATIONS = ("V1", "V2")  # ComputeRP HyperVGenerationTypes


def handle(state: State, req: Request, route: Route) -> Response:
    return serve(state, req, route, render, {"PUT": _put, "DELETE": _delete})


def _delete(state: State, req: Request, route: Route, existing: Resource | None) -> Response:
    # The image goes when its operation ends, whatever the outcome.
    return accept_delete(state, req, existing, collection="operations", when_failed="removed")


def _disk(disk: dict[str, Any], os_disk: bool) -> dict[str, Any]:
    given = disk.get("managedDisk")
    managed: dict[str, Any] = given if isinstance(given, dict) else {}
    out: dict[str, Any] = {}
    if os_disk:
        out["osType"] = disk.get("osType") or "Linux"
        out["osState"] = "Generalized"
    else:
        out["lun"] = disk.get("lun", 0)
    if disk.get("diskSizeGB") is not None:
        out["diskSizeGB"] = disk["diskSizeGB"]
    if managed.get("id"):
        out["managedDisk"] = {"id": managed["id"]}
    out["caching"] = disk.get("caching") or ("ReadWrite" if os_disk else "None")
    out["storageAccountType"] = managed.get("storageAccountType") or "Standard_LRS"
    return out


def _captured(state: State, vm_id: str) -> dict[str, Any]:
    vm = state.get(vm_id)
    if vm is None or vm.type.lower() != VM.lower():
        raise ArmError(404, "NotFound", f"The entity '{vm_id}' was not found.", "sourceVirtualMachine.id")
    storage = vm.properties.get("storageProfile") or {}
    profile: dict[str, Any] = {"osDisk": _disk(storage.get("osDisk") or {}, os_disk=True)}
    profile["dataDisks"] = [
        _disk(d, os_disk=False) for d in storage.get("dataDisks") or [] if isinstance(d, dict)
    ]
    return profile


def _put(state: State, req: Request, route: Route, existing: Resource | None) -> Response:
    body, location, props = put_request(req, existing, IMAGE)
    source = props.get("sourceVirtualMachine")
    if isinstance(source, dict) and source.get("id"):
        props["storageProfile"] = _captured(state, str(source["id"]))
    elif not isinstance(props.get("storageProfile"), dict):
        raise invalid_parameter(
            "Either 'sourceVirtualMachine' or 'storageProfile' is required.", "properties.storageProfile"
        )
    if props.get("hyperVGeneration") is not None:
        given = str(props["hyperVGeneration"])
        match = [g for g in HYPERV_GENERATIONS if g.lower() == given.lower()]
        if not match:
            raise invalid_parameter(
                f"The value '{given}' of 'hyperVGeneration' is not valid. Allowed values: V1, V2.",
                "properties.hyperVGeneration",
            )
        props["hyperVGeneration"] = match[0]
    res = Resource(
        **kept(state, route, existing),
        type=IMAGE,
        location=location,
        properties=props,
        tags=validate_tags(body.get("tags")),
        provisioning_state="Updating" if existing else "Creating",
    )
    state.put(res)
    return accept_write(state, req, res, render(res), 200 if existing else 201)


RESOURCE_TYPES = (ResourceType("Microsoft.Compute", ("images",), "vm", handle),)
