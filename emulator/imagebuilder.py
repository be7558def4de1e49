"""Microsoft.VirtualMachineImages imageTemplates and their runs.

PUT / PATCH / GET / DELETE / list (by resource group and subscription), `POST .../run` and
`POST .../cancel`, and (emulator/imagebuilder_outputs.py) the template defaults Azure fills in, the gallery
image version a successful run publishes, `runOutputs` and `triggers`. A run is a long-running operation
(202 + `Azure-AsyncOperation` + `Location`) that
takes `replication_seconds` of virtual time; `properties.lastRunStatus` shows Running with a sub-state
while it lasts, then Succeeded - or Failed when the template carries the tag `emulator.runOutcome` =
`Failed` (or the lro-fail fault strikes). A run while one is running is refused with 409.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from emulator import envelope, lro
from emulator.arm import (
    Request,
    ResourceType,
    Response,
    Route,
    list_collection,
    merge_patch,
    put_location_and_properties,
    request_object,
    require_resource_group,
    resource_id,
)
from emulator.clock import format_iso
from emulator.errors import ArmError, conflict, invalid_parameter, not_found
from emulator.imagebuilder_outputs import (
    handle_run_outputs,
    handle_triggers,
    instant_operation,
    publish,
    template_defaults,
)
from emulator.state import Operation, Resource, validate_tags
from emulator.writes import accept_delete, accept_write, kept

if TYPE_CHECKING:
    from emulator.state import State

PROVIDER = "Microsoft.VirtualMachineImages"
TEMPLATE = "Microsoft.VirtualMachineImages/imageTemplates"
OUTCOME_TAG = "emulator.runOutcome"
SUB_STATES = ((0.3, "Building"), (0.7, "Customizing"), (0.8, "Validating"), (1.01, "Distributing"))


@dataclass
class Run:
    start: datetime
    end: datetime
    operation: Operation
    canceled_at: datetime | None = None
    # What a successful run distributed (emulator/imagebuilder_outputs.py), as runOutputs lists it.
    outputs: list[dict[str, Any]] = field(default_factory=list)

    def running(self, now: datetime) -> bool:
        return self.canceled_at is None and now < self.end

    def last_run_status(self, now: datetime) -> dict[str, Any]:
        status: dict[str, Any] = {"startTime": format_iso(self.start)}
        if self.canceled_at is not None:
            status.update(
                endTime=format_iso(self.canceled_at),
                runState="Canceled",
                runSubState="Canceling",
                message="The image build was canceled.",
            )
            return status
        if now < self.end:
            total = (self.end - self.start).total_seconds()
            fraction = 1.0 if total <= 0 else (now - self.start).total_seconds() / total
            sub_state = next(name for edge, name in SUB_STATES if fraction < edge)
            status.update(runState="Running", runSubState=sub_state, message="")
            return status
        status["endTime"] = format_iso(self.end)
        if self.operation.outcome == "Succeeded":
            status.update(runState="Succeeded", runSubState="Distributing", message="")
        else:
            message = (self.operation.error or {}).get("message", "The image build failed.")
            status.update(runState="Failed", runSubState="Customizing", message=message)
        return status


@dataclass
class ImageTemplate(Resource):
    run: Run | None = None
    triggers: dict[str, Resource] = field(default_factory=dict)  # by lower-cased name


def handle(state: State, req: Request, route: Route) -> Response:
    if route.kind == "collection":
        return list_collection(state, req, route, TEMPLATE, lambda r: render(state, r))
    require_resource_group(route, TEMPLATE)
    existing = state.get(resource_id(route.path))
    template = existing if isinstance(existing, ImageTemplate) else None
    if route.kind == "action":
        if req.method != "POST":
            raise ArmError(
                405, "MethodNotAllowed", f"The {req.method} method is not allowed for '{route.action}'."
            )
        if template is None:
            raise not_found(TEMPLATE, route.names[-1], route.path.resource_group)
        return _run(state, req, template) if route.action == "run" else _cancel(state, req, template)
    if req.method == "GET":
        if template is None:
            raise not_found(TEMPLATE, route.names[-1], route.path.resource_group)
        return Response(200, render(state, template))
    if req.method in ("PUT", "PATCH"):
        return _write(state, req, route, template)
    if req.method == "DELETE":
        return _delete(state, req, template)
    raise ArmError(405, "MethodNotAllowed", f"The {req.method} method is not allowed.")


RESOURCE_TYPES = (
    ResourceType(PROVIDER, ("imageTemplates",), "imagebuilder", handle, actions=("run", "cancel")),
    ResourceType(
        PROVIDER,
        ("imageTemplates", "runOutputs"),
        "imagebuilder",
        handle_run_outputs,
        subscription_list=False,
    ),
    ResourceType(
        PROVIDER, ("imageTemplates", "triggers"), "imagebuilder", handle_triggers, subscription_list=False
    ),
)


def render(state: State, res: Resource) -> dict[str, Any]:
    body = envelope.render(res, head=envelope.ID_FIRST)
    if isinstance(res, ImageTemplate) and res.run is not None:
        body["properties"]["lastRunStatus"] = res.run.last_run_status(state.now())
    return body


def _busy(state: State, template: ImageTemplate | None) -> bool:
    return template is not None and template.run is not None and template.run.running(state.now())


def _write(state: State, req: Request, route: Route, existing: ImageTemplate | None) -> Response:
    body = request_object(req)
    if _busy(state, existing):
        raise conflict("Conflict", "The image template has a run in progress; retry when it has finished.")
    if req.method == "PATCH":
        if existing is None:
            raise not_found(TEMPLATE, route.names[-1], route.path.resource_group)
        props = merge_patch(existing.properties, body.get("properties") or {})
        tags = validate_tags(body["tags"]) if "tags" in body else existing.tags
        extra = dict(existing.extra)
        if "identity" in body:
            extra["identity"] = body["identity"]
        location = existing.location
    else:
        location, props = put_location_and_properties(body, existing.location if existing else None, TEMPLATE)
        for key in ("source", "distribute"):
            if not props.get(key):
                raise invalid_parameter(
                    f"The '{key}' property of the image template is required.", f"properties.{key}"
                )
        tags = validate_tags(body.get("tags"))
        extra = {"identity": body["identity"]} if "identity" in body else {}
    for read_only in ("provisioningState", "provisioningError", "lastRunStatus"):
        props.pop(read_only, None)
    props.setdefault("buildTimeoutInMinutes", 0)
    template_defaults(state, props)
    if existing is not None and "exactStagingResourceGroup" in existing.properties:
        props["exactStagingResourceGroup"] = existing.properties["exactStagingResourceGroup"]
    else:
        props.setdefault(
            "exactStagingResourceGroup",
            f"/subscriptions/{route.path.subscription}/resourceGroups/IT_{route.path.resource_group}_"
            f"{route.names[-1]}_{uuid.uuid4()}",
        )
    res = ImageTemplate(
        **kept(state, route, existing),
        type=TEMPLATE,
        location=location,
        properties=props,
        tags=tags,
        provisioning_state="Updating" if existing else "Creating",
        extra=extra,
        run=existing.run if existing else None,
        triggers=existing.triggers if existing else {},
    )
    state.put(res)
    return accept_write(state, req, res, render(state, res), 200 if existing else 201, provider=PROVIDER)


def _delete(state: State, req: Request, template: ImageTemplate | None) -> Response:
    if _busy(state, template):
        raise conflict(
            "Conflict", "The image template has a run in progress; cancel it or wait before deleting."
        )
    return accept_delete(state, req, template, collection="operations", provider=PROVIDER)


def _run(state: State, req: Request, template: ImageTemplate) -> Response:
    if template.provisioning_state != "Succeeded":
        raise conflict(
            "Conflict",
            f"The image template is in provisioning state '{template.provisioning_state}' and cannot run.",
        )
    if _busy(state, template):
        raise conflict("Conflict", "The image template already has a run in progress.")
    now = state.now()
    end = now + timedelta(seconds=max(0.0, state.config.replication_seconds))

    def distribute(op: Operation) -> None:
        # A successful run publishes what it distributes (emulator/imagebuilder_outputs.py).
        if op.outcome == "Succeeded" and template.run is not None and template.run.operation is op:
            template.run.outputs = publish(state, template)

    op = lro.start(
        state,
        template.subscription,
        template.location,
        end,
        distribute,
        provider=PROVIDER,
        collection="operations",
    )
    if op.outcome == "Succeeded" and (template.tags or {}).get(OUTCOME_TAG, "").lower() == "failed":
        op.outcome = "Failed"
        op.error = {
            "code": "BuildFailed",
            "message": f"The image build failed (template tag {OUTCOME_TAG}=Failed). "
            "See the customization log.",
        }
    template.run = Run(start=now, end=end, operation=op)
    return Response(202, None, lro.headers(req, op, with_location=True))


def _cancel(state: State, req: Request, template: ImageTemplate) -> Response:
    run = template.run
    now = state.now()
    if run is None or not run.running(now):
        raise conflict("Conflict", "The image template has no run in progress to cancel.")
    run.canceled_at = now
    run.operation.finish_at = now
    run.operation.outcome = "Canceled"
    run.operation.error = {"code": "Canceled", "message": "The image build was canceled."}
    op = instant_operation(state, template)
    return Response(202, None, lro.headers(req, op, with_location=True))
