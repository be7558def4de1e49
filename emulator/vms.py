"""Microsoft.Compute virtualMachines and virtualMachineScaleSets, kept just deep enough for in-use checks.

PUT stores the body (notably `properties.storageProfile.imageReference`, or for scale sets
`properties.virtualMachineProfile.storageProfile.imageReference`) and completes at once; GET, list by
resource group and by subscription, PATCH (merge) and DELETE (202 + operation) behave like compute does.
An image reference names a gallery image by `id`, `sharedGalleryImageId` or `communityGalleryImageId`
(computeExamples/VirtualMachine_Create_FromASharedGalleryImage.json, ..._FromACommunityGalleryImage.json):
it is stored and echoed as sent.

A Uniform scale set has instances (`.../virtualMachineScaleSets/{n}/virtualMachines`, as
computeExamples/VirtualMachineScaleSetVM_List_WithResiliencyView.json lists them), one per `sku.capacity`,
each with the model it was created or last upgraded with and `latestModelApplied`. A model change reaches
the instances at once only with `upgradePolicy.mode` Automatic; with Manual (the default) or Rolling they
keep their old model until `POST .../manualupgrade` (stricter reading for Rolling, which Azure rolls out
over time). A VM, or an instance when it takes its model, whose reference follows `latest` reports the
version it got as `exactVersion` (emulator/latest.py names the sources). A Flexible scale set's
instances are VMs (`properties.virtualMachineScaleSet.id`); its list
gives only their `virtualMachineResourceId` (..._List_WithVirtualMachineResourceId.json).
"""

from __future__ import annotations

import copy
import uuid
from typing import TYPE_CHECKING, Any

from emulator import lro
from emulator.arm import (
    Request,
    ResourceType,
    Response,
    Route,
    merge_patch,
    page,
    put_location_and_properties,
    request_object,
    resource_id,
    serve,
)
from emulator.clock import format_iso
from emulator.envelope import render
from emulator.errors import ArmError, not_found
from emulator.latest import resolve_reference
from emulator.state import Resource, validate_tags
from emulator.writes import accept_delete, child_of, kept

if TYPE_CHECKING:
    from emulator.state import State

VM = "Microsoft.Compute/virtualMachines"
VMSS = "Microsoft.Compute/virtualMachineScaleSets"
VMSS_VM = "Microsoft.Compute/virtualMachineScaleSets/virtualMachines"
TOP_LEVEL = ("zones", "identity", "plan", "sku", "extendedLocation")
GALLERY_REFERENCES = ("id", "sharedGalleryImageId", "communityGalleryImageId")


def handle(state: State, req: Request, route: Route) -> Response:
    if route.kind == "action" and route.action == "manualupgrade":
        return _manual_upgrade(state, req, route)
    return serve(state, req, route, render, {"PUT": _write, "PATCH": _write, "DELETE": _delete})


def _delete(state: State, req: Request, route: Route, existing: Resource | None) -> Response:
    def remove_instances(vmss: Resource) -> None:  # a scale set's instances go with it
        for instance in state.children(vmss.id, VMSS_VM):
            state.remove(instance.id)

    return accept_delete(state, req, existing, collection="operations", before_removal=remove_instances)


def _write(state: State, req: Request, route: Route, existing: Resource | None) -> Response:
    body = request_object(req)
    type_name = route.rtype.full_type
    if req.method == "PATCH":
        if existing is None:
            raise not_found(type_name, route.names[-1], route.path.resource_group)
        props = merge_patch(existing.properties, body.get("properties") or {})
        tags = validate_tags(body["tags"]) if "tags" in body else existing.tags
        extra = merge_patch(existing.extra, {k: body[k] for k in TOP_LEVEL if k in body})
        location = existing.location
    else:
        location, props = put_location_and_properties(
            body, existing.location if existing else None, type_name
        )
        tags = validate_tags(body.get("tags"))
        extra = {k: body[k] for k in TOP_LEVEL if k in body}
    props.pop("provisioningState", None)
    _check_image_reference(props, type_name)
    if type_name == VM:
        _vm_exact_version(state, props, existing, location)
    else:
        # A scale set's model follows `latest` at each instance's (re)imaging; the model itself carries no
        # exactVersion (only instances report one: VirtualMachineScaleSetVM_List_WithResiliencyView.json).
        reference = _image_reference(props, type_name)
        if isinstance(reference, dict):
            reference.pop("exactVersion", None)
    id_key = "vmId" if type_name == VM else "uniqueId"
    props[id_key] = existing.properties.get(id_key) if existing else str(uuid.uuid4())
    if type_name == VM:
        # Read-only, set when the VM is created (cli-recordings/test_shared_gallery.yaml interaction 33).
        props["timeCreated"] = (existing.properties.get("timeCreated") if existing else None) or format_iso(
            state.now()
        )
    res = Resource(
        **kept(state, route, existing),
        type=type_name,
        location=location,
        properties=props,
        tags=tags,
        provisioning_state="Succeeded",
        extra=extra,
    )
    state.put(res)
    if type_name == VMSS:
        _sync_instances(state, res, model_changed=_model(existing) != _model(res))
    return Response(200 if existing else 201, render(res))


def _image_reference(props: dict[str, Any], type_name: str) -> Any:
    profile = props.get("virtualMachineProfile") if type_name == VMSS else props
    storage = profile.get("storageProfile") if isinstance(profile, dict) else None
    return storage.get("imageReference") if isinstance(storage, dict) else None


def _check_image_reference(props: dict[str, Any], type_name: str) -> None:
    reference = _image_reference(props, type_name)
    if not isinstance(reference, dict):
        return
    given = [k for k in GALLERY_REFERENCES if reference.get(k)]
    if len(given) > 1:
        # Stricter reading (unconfirmed): the spec documents the three as alternative ways to name an image.
        raise ArmError(
            400,
            "InvalidParameter",
            f"Only one of {', '.join(GALLERY_REFERENCES)} can be set in imageReference; "
            f"got {', '.join(given)}.",
            "imageReference",
        )


def _vm_exact_version(state: State, props: dict[str, Any], existing: Resource | None, location: str) -> None:
    """A VM resolves `latest` once, when it is created: an update that keeps the image reference keeps the
    version its disk was made from (see emulator/latest.py for the sources)."""
    reference = _image_reference(props, VM)
    if not isinstance(reference, dict):
        return
    before = _image_reference(existing.properties, VM) if existing else None
    if isinstance(before, dict):
        same = {k: v for k, v in before.items() if k != "exactVersion"} == {
            k: v for k, v in reference.items() if k != "exactVersion"
        }
        if same:
            reference.pop("exactVersion", None)
            if before.get("exactVersion"):
                reference["exactVersion"] = before["exactVersion"]
            return
    resolve_reference(state, reference, location)


def _model(res: Resource | None) -> Any:
    return copy.deepcopy((res.properties.get("virtualMachineProfile") if res else None) or {})


def _uniform(res: Resource) -> bool:
    return str(res.properties.get("orchestrationMode") or "Uniform").lower() == "uniform"


def _capacity(res: Resource) -> int:
    sku = res.extra.get("sku")
    capacity = sku.get("capacity") if isinstance(sku, dict) else None
    return capacity if isinstance(capacity, int) and capacity >= 0 else 0


def _sync_instances(state: State, vmss: Resource, *, model_changed: bool) -> None:
    """Instances follow `sku.capacity`; a new model reaches them only with upgradePolicy Automatic."""
    instances = state.children(vmss.id, VMSS_VM)
    if not _uniform(vmss):
        for instance in instances:
            state.remove(instance.id)
        return
    mode = str((vmss.properties.get("upgradePolicy") or {}).get("mode") or "Manual")
    for instance in instances:
        if model_changed and mode.lower() == "automatic":
            _apply_model(state, instance, vmss)
        elif model_changed:
            instance.properties["latestModelApplied"] = False
    wanted = _capacity(vmss)
    for instance in instances[wanted:]:
        state.remove(instance.id)
    next_id = max((int(i.name) for i in instances if i.name.isdigit()), default=-1) + 1
    for offset in range(max(0, wanted - len(instances))):
        name = str(next_id + offset)
        instance = child_of(
            state,
            vmss,
            VMSS_VM,
            name,
            {"vmId": str(uuid.uuid4())},
            {"instanceId": name, **({"sku": vmss.extra["sku"]} if "sku" in vmss.extra else {})},
        )
        _apply_model(state, instance, vmss)
        state.put(instance)


def _apply_model(state: State, instance: Resource, vmss: Resource) -> None:
    """The instance takes the scale set's model; an image reference that follows `latest` resolves now, to
    the version the instance's disk is made from (`exactVersion`, see emulator/latest.py)."""
    model = _model(vmss)
    storage = model.get("storageProfile") or {}
    resolve_reference(state, storage.get("imageReference"), vmss.location)
    instance.properties["storageProfile"] = storage
    instance.properties["latestModelApplied"] = True
    instance.properties["modelDefinitionApplied"] = "VirtualMachineScaleSet"


def _manual_upgrade(state: State, req: Request, route: Route) -> Response:
    """`POST .../virtualMachineScaleSets/{n}/manualupgrade {"instanceIds": [...]}`: bring those instances to
    the scale set's latest model (VirtualMachineScaleSets_UpdateInstances); 202 + operation like compute."""
    if req.method != "POST":
        raise ArmError(405, "MethodNotAllowed", f"The {req.method} method is not allowed.")
    vmss = state.get(resource_id(route.path))
    if vmss is None or route.path.resource_group is None:
        raise not_found(VMSS, route.names[-1], route.path.resource_group)
    body = request_object(req)
    wanted = body.get("instanceIds")
    if not isinstance(wanted, list) or not wanted:
        raise ArmError(400, "InvalidParameter", "The property 'instanceIds' is required.", "instanceIds")
    instances = {i.name: i for i in state.children(vmss.id, VMSS_VM)}
    unknown = [str(i) for i in wanted if str(i) not in instances]
    if unknown:
        raise ArmError(
            400, "InvalidParameter", f"The instance ids {', '.join(unknown)} are not valid.", "instanceIds"
        )
    for name in wanted:
        _apply_model(state, instances[str(name)], vmss)
    op = lro.start(
        state, vmss.subscription, vmss.location, state.now(), lambda op: None, collection="operations"
    )
    return Response(202, None, lro.headers(req, op, with_location=True))


def handle_instances(state: State, req: Request, route: Route) -> Response:
    """Scale-set instances: list and GET (VirtualMachineScaleSetVMs_List / _Get)."""
    if route.path.resource_group is None:
        raise ArmError(404, "InvalidResourceType", f"The resource type '{VMSS_VM}' needs a resource group.")
    vmss = state.get(resource_id(route.path, 1))
    if vmss is None:
        raise not_found(VMSS, route.names[0], route.path.resource_group)
    if req.method != "GET":
        raise ArmError(405, "MethodNotAllowed", f"The {req.method} method is not allowed.")
    if route.kind == "collection":
        if not _uniform(vmss):
            vms = [
                vm
                for vm in state.of_type(VM, vmss.subscription, vmss.resource_group)
                if str((vm.properties.get("virtualMachineScaleSet") or {}).get("id", "")).lower() == vmss.key
            ]
            return page(state, req, [_flex_entry(vmss, vm) for vm in vms])
        return page(state, req, [render(i) for i in state.children(vmss.id, VMSS_VM)])
    instance = state.get(resource_id(route.path))
    if instance is None:
        raise not_found(VMSS_VM, route.names[-1], route.path.resource_group)
    return Response(200, render(instance))


def _flex_entry(vmss: Resource, vm: Resource) -> dict[str, Any]:
    return {
        "name": vm.name,
        "id": f"{vmss.id}/virtualMachines/{vm.name}",
        "type": VMSS_VM,
        "location": vm.location,
        "instanceId": vm.name,
        "properties": {"virtualMachineResourceId": vm.id},
    }


RESOURCE_TYPES = (
    ResourceType("Microsoft.Compute", ("virtualMachines",), "vm", handle),
    ResourceType("Microsoft.Compute", ("virtualMachineScaleSets",), "vm", handle, actions=("manualupgrade",)),
    ResourceType(
        "Microsoft.Compute",
        ("virtualMachineScaleSets", "virtualMachines"),
        "vm",
        handle_instances,
        subscription_list=False,
    ),
)
