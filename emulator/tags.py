"""ARM's Tags API at a resource's scope: `{resource id}/providers/Microsoft.Resources/tags/default`.

Source: Azure/azure-rest-api-specs `specification/resources/resource-manager/Microsoft.Resources/stable/
2022-09-01/resources.json`, path `/{scope}/providers/Microsoft.Resources/tags/default`:
- `Tags_UpdateAtScope` (PATCH, body `TagsPatchResource` = `{"operation": "Replace"|"Merge"|"Delete",
  "properties": {"tags": {...}}}`): "The 'replace' option replaces the entire set of existing tags with a new
  set. The 'merge' option allows adding tags with new names and updating the values of tags with existing
  names. The 'delete' option allows selectively deleting tags based on given names or name/value pairs."
  "The specified entity can have a maximum of 50 tags at the end of the operation." Answers 200 with a
  `TagsResource`, or 202 (long-running); the emulator answers 200.
- `Tags_CreateOrUpdateAtScope` (PUT, body `TagsResource`): replaces the whole set.
- `Tags_GetAtScope` (GET) and `Tags_DeleteAtScope` (DELETE, the whole set; 200).
`TagsResource` is `{"id", "name", "type", "properties": {"tags": {...}}}` (id, name, type read-only).

Tag names are case-insensitive, values case-sensitive (the Tags operations' own text: "A tag name can have a
maximum of 512 characters and is case-insensitive"): Merge updates an existing tag whatever the casing of the
name sent, keeping the name as stored; Delete matches names the same way. Limits (50 tags, names 512,
values 256, no `<>%&\\?/` in names) are those of every tag write (`emulator.state.validate_tags`).

Authorization is the `Microsoft.Resources/tags/<verb>` action at the resource's scope, not the resource's
own write (the Tags operations are what the Tag Contributor role grants; see `emulator.rbac`).

Stricter readings where Azure is unconfirmed, said so beside each: a tag write on a resource that is being
written (provisioningState Creating/Updating/Deleting) is refused as the resource provider refuses any
write then; `Delete` with a value removes the tag only when the value matches; the operation name must be
spelt as the spec's enum; and the write counts against the resource's own Compute write policy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from emulator.errors import ArmError, conflict
from emulator.state import validate_tags

if TYPE_CHECKING:
    from emulator.state import Resource, State

SUFFIX = "/providers/microsoft.resources/tags/default"
TYPE = "Microsoft.Resources/tags"
OPERATIONS = ("Replace", "Merge", "Delete")  # TagsPatchResource.operation enum
# Tags_*AtScope appear in resources.json from 2019-10-01; 2025-04-01 is the newest the template reference
# lists (learn.microsoft.com/azure/templates/microsoft.resources/tags). Later versions are refused (stricter).
API_WINDOW = ("2019-10-01", "2025-04-01")
BUSY = ("Creating", "Updating", "Deleting")


def scope_of(path: str) -> str | None:
    """The resource scope of a Tags API path, or None when `path` is not one."""
    trimmed = path.rstrip("/")
    if not trimmed.lower().endswith(SUFFIX):
        return None
    scope = trimmed[: -len(SUFFIX)]
    return scope if scope.lower().startswith("/subscriptions/") else None


def action(method: str) -> str:
    """The operation ARM authorizes (provider operations of Microsoft.Resources: tags/read|write|delete)."""
    verb = {"GET": "read", "HEAD": "read", "DELETE": "delete"}.get(method, "write")
    return f"{TYPE}/{verb}"


def body(scope: str, tags: dict[str, str] | None) -> dict[str, Any]:
    """A `TagsResource`."""
    return {
        "id": f"{scope}/providers/{TYPE}/default",
        "name": "default",
        "type": TYPE,
        "properties": {"tags": dict(tags or {})},
    }


def handle(state: State, method: str, scope: str, request: Any) -> tuple[int, dict[str, Any] | None]:
    """Answer one Tags API request on `scope` (state lock held): (status, TagsResource or None)."""
    resource = state.get(scope)
    if resource is None:
        # The resource provider's answer for a resource that is not there (stricter: the scope must exist).
        raise ArmError(404, "ResourceNotFound", f"The Resource '{scope.strip('/')}' was not found.")
    if method in ("GET", "HEAD"):
        return 200, body(resource.id, resource.tags)
    if resource.provisioning_state in BUSY:
        # Stricter reading (unconfirmed for the Tags API): refused like any write of a busy resource.
        raise conflict(
            "OperationNotAllowed",
            f"Another operation is in progress on the resource '{resource.id}' (provisioningState "
            f"{resource.provisioning_state}). Please retry after it completes.",
        )
    if method == "DELETE":
        resource.tags = None
        return 200, None
    if method == "PUT":
        _apply(resource, _tags_of(request, required=True))
        return 200, body(resource.id, resource.tags)
    if method != "PATCH":
        raise ArmError(405, "MethodNotAllowed", f"The {method} method is not allowed on {TYPE}.")
    operation = request.get("operation") if isinstance(request, dict) else None
    if operation not in OPERATIONS:
        # Stricter reading: the enum's spelling, case included.
        raise ArmError(
            400,
            "InvalidRequestContent",
            f"The operation '{operation}' is not valid: expected one of {', '.join(OPERATIONS)}.",
        )
    given = _tags_of(request, required=operation != "Delete")
    current = dict(resource.tags or {})
    if operation == "Replace":
        result = given
    elif operation == "Merge":
        result = merge(current, given)
    else:
        result = delete(current, given)
    _apply(resource, result)
    return 200, body(resource.id, resource.tags)


def merge(current: dict[str, str], given: dict[str, str]) -> dict[str, str]:
    """Add new names, update existing ones (matched case-insensitively, the stored casing kept)."""
    out = dict(current)
    stored = {name.lower(): name for name in current}
    for name, value in given.items():
        out[stored.get(name.lower(), name)] = value
    return out


def delete(current: dict[str, str], given: dict[str, str]) -> dict[str, str]:
    """Remove the given names; a given non-empty value must match the stored one (stricter reading)."""
    wanted = {name.lower(): value for name, value in given.items()}
    return {
        name: value
        for name, value in current.items()
        if name.lower() not in wanted or (wanted[name.lower()] not in ("", value))
    }


def _tags_of(request: Any, *, required: bool) -> dict[str, str]:
    props = request.get("properties") if isinstance(request, dict) else None
    tags = props.get("tags") if isinstance(props, dict) else None
    if tags is None and not required:
        return {}
    if not isinstance(tags, dict):
        raise ArmError(
            400, "InvalidRequestContent", "The request content was invalid: 'properties.tags' is required."
        )
    checked = validate_tags(tags)
    return dict(checked or {})


def _apply(resource: Resource, tags: dict[str, str]) -> None:
    # "The specified entity can have a maximum of 50 tags at the end of the operation."
    resource.tags = validate_tags(tags) or None
