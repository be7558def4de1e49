"""Request checks shared by the gallery, image definition and version handlers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from emulator import regions
from emulator.arm import Request, Route, resource_id
from emulator.errors import ArmError, invalid_parameter, parent_not_found
from emulator.galleries.model import GALLERY, IMAGE, MAX_INT32, VERSION, VERSION_NAME
from emulator.state import Resource

if TYPE_CHECKING:
    from emulator.state import State


def check_version_name(name: str) -> None:
    match = VERSION_NAME.match(name)
    if not match or any(int(part) > MAX_INT32 for part in match.groups()):
        raise invalid_parameter(
            f"The gallery image version name '{name}' is invalid. It must follow the format "
            "<MajorVersion>.<MinorVersion>.<Patch> where each part is a 32-bit integer.",
            "galleryImageVersionName",
        )


def type_for_depth(depth: int) -> str:
    return (GALLERY, IMAGE, VERSION)[depth - 1]


def parent_of(state: State, route: Route, depth: int) -> Resource | None:
    """The parent resource (None for galleries); 404 ParentResourceNotFound if it is missing."""
    if depth == 1:
        return None
    parent = state.get(resource_id(route.path, depth - 1))
    if parent is None or parent.provisioning_state == "Deleting":
        raise parent_not_found("/".join(route.names[: depth - 1]))
    return parent


def expand_of(req: Request) -> set[str]:
    return {part.strip().lower() for part in (req.param("$expand") or "").split(",") if part.strip()}


def check_location(value: Any, type_name: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ArmError(400, "LocationRequired", "The location property is required for this definition.")
    if not regions.is_known(value):
        names = ",".join(r.display_name.lower() for r in regions.REGIONS)
        raise ArmError(
            400,
            "LocationNotAvailableForResourceType",
            f"The provided location '{value}' is not available for resource type '{type_name}'. "
            f"List of available regions for the resource type is '{names}'.",
        )
    return value


def as_object(value: Any, name: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ArmError(
            400, "InvalidRequestContent", f"The request content was invalid: '{name}' must be an object."
        )
    return value


def positive_int(value: Any, target: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise invalid_parameter(f"The value '{value}' of '{target}' must be a positive integer.", target)
    return value


def choice_of(value: Any, allowed: tuple[str, ...], target: str) -> str:
    for option in allowed:
        if isinstance(value, str) and value.lower() == option.lower():
            return option
    raise invalid_parameter(
        f"The value '{value}' of '{target}' is not valid. Allowed values: {', '.join(allowed)}.", target
    )
