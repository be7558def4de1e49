"""ARM protocol pieces shared by every resource family: request/response types, path parsing, resource
type registry entries, api-version comparison and `nextLink` paging.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote

from emulator.errors import ArmError, not_found

if TYPE_CHECKING:
    from emulator.state import State

_API_VERSION = re.compile(r"^(\d{4}-\d{2}-\d{2})(-preview|-beta|-alpha)?$", re.IGNORECASE)


@dataclass
class Request:
    """One HTTP request as the handlers see it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-cased names
    body: bytes
    endpoint: str

    def param(self, name: str) -> str | None:
        """A query parameter, name matched case-insensitively (ARM does)."""
        lowered = name.lower()
        for key, value in self.query.items():
            if key.lower() == lowered:
                return value
        return None

    @property
    def api_version(self) -> str:
        return self.param("api-version") or ""

    def json(self) -> Any:
        if not self.body.strip():
            raise ArmError(
                400,
                "InvalidRequestContent",
                "The request content was invalid and could not be deserialized: empty body.",
            )
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ArmError(
                400,
                "InvalidRequestContent",
                f"The request content was invalid and could not be deserialized: {exc}.",
            ) from exc


@dataclass
class Response:
    """An answer: status, JSON-able body (or raw bytes / None) and extra headers."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class ArmPath:
    """`/subscriptions/{sub}[/resourceGroups/{rg}]/providers/{provider}/{type}/{name}/...` split up."""

    subscription: str
    resource_group: str | None
    provider: str
    types: list[str]
    names: list[str]


def parse_arm_path(path: str) -> ArmPath | None:
    segments = [unquote(s) for s in path.strip("/").split("/")]
    if len(segments) < 2 or segments[0].lower() != "subscriptions" or not segments[1]:
        return None
    subscription = segments[1]
    i = 2
    resource_group = None
    if i < len(segments) and segments[i].lower() == "resourcegroups":
        if i + 1 >= len(segments) or not segments[i + 1]:
            return None
        resource_group = segments[i + 1]
        i += 2
    if i + 1 >= len(segments) or segments[i].lower() != "providers":
        return None
    provider = segments[i + 1]
    rest = segments[i + 2 :]
    if any(not s for s in rest):
        return None
    return ArmPath(subscription, resource_group, provider, rest[0::2], rest[1::2])


Handler = Callable[["State", Request, "Route"], Response]


@dataclass(frozen=True)
class ResourceType:
    """A resource type the emulator serves, with its canonical spelling and handler."""

    provider: str
    types: tuple[str, ...]
    api: str  # which api-version family applies: "compute", "imagebuilder"
    handler: Handler
    actions: tuple[str, ...] = ()
    subscription_list: bool = True

    @property
    def full_type(self) -> str:
        return f"{self.provider}/{'/'.join(self.types)}"

    @property
    def key(self) -> tuple[str, tuple[str, ...]]:
        return self.provider.lower(), tuple(t.lower() for t in self.types)


@dataclass
class Route:
    """A request matched to a resource type: an instance, a collection, or an action on an instance."""

    rtype: ResourceType
    path: ArmPath
    kind: str  # "instance", "collection", "action"
    action: str | None = None

    @property
    def names(self) -> list[str]:
        return self.path.names

    @property
    def operation_key(self) -> str:
        suffix = f"/{self.action}" if self.action else ""
        return f"{self.rtype.full_type}{suffix}"


def match_route(path: ArmPath, registry: dict[tuple[str, tuple[str, ...]], ResourceType]) -> Route | None:
    provider = path.provider.lower()
    types = tuple(t.lower() for t in path.types)
    if len(types) == len(path.names):
        rtype = registry.get((provider, types))
        return Route(rtype, path, "instance") if rtype else None
    if len(types) == len(path.names) + 1:
        rtype = registry.get((provider, types))
        if rtype:
            return Route(rtype, path, "collection")
        rtype = registry.get((provider, types[:-1]))
        if rtype:
            for action in rtype.actions:
                if action.lower() == types[-1]:
                    return Route(
                        rtype,
                        ArmPath(
                            path.subscription, path.resource_group, path.provider, path.types[:-1], path.names
                        ),
                        "action",
                        action,
                    )
    return None


def api_date(version: str) -> str:
    """`2024-03-03-preview` -> `2024-03-03`; '' if not an api-version."""
    match = _API_VERSION.match(version.strip())
    return match.group(1) if match else ""


def api_at_least(version: str, date: str) -> bool:
    return api_date(version) >= date


def resource_id(path: ArmPath, upto: int | None = None) -> str:
    """The resource id for the instance addressed by `path` (the first `upto` type/name pairs)."""
    count = len(path.names) if upto is None else upto
    parts = [f"/subscriptions/{path.subscription}"]
    if path.resource_group is not None:
        parts.append(f"/resourceGroups/{path.resource_group}")
    parts.append(f"/providers/{path.provider}")
    for type_name, name in zip(path.types[:count], path.names[:count], strict=True):
        parts.append(f"/{type_name}/{name}")
    return "".join(parts)


def page(
    state: State,
    req: Request,
    items: Sequence[dict[str, Any]],
) -> Response:
    """One page of a list answer with an absolute `nextLink` that carries the api-version."""
    top_text = req.param("$top")
    size = state.config.page_size
    if top_text:
        try:
            size = max(1, int(top_text))
        except ValueError as exc:
            raise ArmError(400, "InvalidParameter", f"The value '{top_text}' of $top is not valid.") from exc
    skip_text = req.param("$skiptoken") or "0"
    try:
        start = max(0, int(skip_text))
    except ValueError as exc:
        raise ArmError(400, "InvalidParameter", f"The $skiptoken '{skip_text}' is not valid.") from exc
    chunk = list(items[start : start + size])
    body: dict[str, Any] = {"value": chunk}
    if start + size < len(items):
        params = [f"api-version={quote(req.api_version, safe='')}"]
        if top_text:
            params.append(f"$top={size}")
        expand = req.param("$expand")
        if expand:
            params.append(f"$expand={quote(expand, safe='')}")
        params.append(f"$skiptoken={start + size}")
        body["nextLink"] = f"{req.endpoint}{req.path}?{'&'.join(params)}"
    return Response(200, body)


def list_collection(
    state: State, req: Request, route: Route, type_name: str, render: Callable[[Any], dict[str, Any]]
) -> Response:
    """A GET of a resource collection, paged; any other method on a collection is refused."""
    if req.method != "GET":
        raise ArmError(405, "MethodNotAllowed", f"The {req.method} method is not allowed on a collection.")
    items = state.of_type(type_name, route.path.subscription, route.path.resource_group)
    return page(state, req, [render(r) for r in items])


def require_resource_group(route: Route, type_name: str) -> None:
    """Resource-group-scoped types have no instance outside a resource group."""
    if route.path.resource_group is None:
        raise ArmError(404, "InvalidResourceType", f"The resource type '{type_name}' needs a resource group.")


def read_or_stored(
    state: State, req: Request, route: Route, render: Callable[[Any], dict[str, Any]]
) -> tuple[Response | None, Any]:
    """The start every resource-group resource's handler shares: a collection is listed and a GET
    answered (404 ResourceNotFound when absent); for any other method the answer is None and the
    handler gets the resource as stored (None when absent) to write or delete."""
    type_name = route.rtype.full_type
    if route.kind == "collection":
        return list_collection(state, req, route, type_name, render), None
    require_resource_group(route, type_name)
    existing = state.get(resource_id(route.path))
    if req.method == "GET":
        if existing is None:
            raise not_found(type_name, route.names[-1], route.path.resource_group)
        return Response(200, render(existing)), existing
    return None, existing


Write = Callable[["State", Request, Route, Any], Response]


def serve(
    state: State,
    req: Request,
    route: Route,
    render: Callable[[Any], dict[str, Any]],
    writes: dict[str, Write],
) -> Response:
    """A resource-group resource's whole handler: lists and GETs as `read_or_stored` answers them, a
    write method handed to its function in `writes` with the resource as stored (None when absent), and
    405 MethodNotAllowed for any other method."""
    answer, existing = read_or_stored(state, req, route, render)
    if answer is not None:
        return answer
    write = writes.get(req.method)
    if write is None:
        raise ArmError(405, "MethodNotAllowed", f"The {req.method} method is not allowed.")
    return write(state, req, route, existing)


def merge_patch(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """JSON merge patch (RFC 7386): objects merge recursively, null removes, anything else replaces."""
    result = dict(base)
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merge_patch(result[key], value)
        else:
            result[key] = value
    return result


def request_object(req: Request) -> dict[str, Any]:
    """The request body, which ARM requires to be a JSON object."""
    from emulator.errors import ArmError

    body = req.json()
    if not isinstance(body, dict):
        raise ArmError(400, "InvalidRequestContent", "The request content must be a JSON object.")
    return body


def put_location_and_properties(
    body: dict[str, Any], existing_location: str | None, type_name: str
) -> tuple[str, dict[str, Any]]:
    """A PUT's `location` (a known region, or the existing one) and a copy of its `properties` object."""
    import copy

    from emulator import regions
    from emulator.errors import ArmError

    given = body.get("location") or existing_location
    if not isinstance(given, str) or not regions.is_known(given):
        raise ArmError(
            400,
            "LocationRequired" if not given else "LocationNotAvailableForResourceType",
            f"The provided location '{given}' is not available for resource type '{type_name}'.",
        )
    props = copy.deepcopy(body.get("properties") or {})
    if not isinstance(props, dict):
        raise ArmError(400, "InvalidRequestContent", "'properties' must be an object.")
    return given, props


def put_request(req: Request, existing: Any, type_name: str) -> tuple[dict[str, Any], str, dict[str, Any]]:
    """A PUT's body, its location (`put_location_and_properties`) and its properties without the read-only
    `provisioningState` a client may echo back."""
    body = request_object(req)
    location, props = put_location_and_properties(body, existing.location if existing else None, type_name)
    props.pop("provisioningState", None)
    return body, location, props
