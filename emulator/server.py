"""HTTP and TLS plumbing: authentication, api-version checks, routing, statistics, latency, throttling and
fault injection; requests under `/_emulator/` go to the control endpoints (emulator/control.py).

Request pipeline for everything outside `/_emulator/`: count it -> authenticate (401 AuthenticationFailed)
-> authorize (403 AuthorizationFailed, when RBAC is on: see rbac.py) -> injected fault -> throttle (429)
-> api-version (400) -> route to the resource family's handler under the state lock, after applying
every clock-driven transition that is due.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import socket
import ssl
import threading
import time
import uuid
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from emulator import (
    control,
    disk_encryption_sets,
    disks,
    eventgrid,
    galleries,
    imagebuilder,
    images,
    lro,
    marketplace,
    shared_galleries,
    tags,
    vms,
)
from emulator.arm import (
    ArmPath,
    Request,
    ResourceType,
    Response,
    Route,
    api_date,
    match_route,
    parse_arm_path,
    resource_id,
)
from emulator.errors import ArmError, error_body
from emulator.faults import Faults, FaultSpec
from emulator.rbac import Rbac
from emulator.state import Config, State
from emulator.throttle import Throttle, resource_policy

log = logging.getLogger("emulator")

# api-version windows accepted per family (inclusive, by date part).
API_WINDOWS: dict[str, tuple[str, str]] = {
    "compute": ("2019-12-01", "2026-03-03"),  # galleries (GalleryRP)
    "vm": ("2019-12-01", "2026-04-01"),  # virtual machines and scale sets (ComputeRP)
    # disks and snapshots (DiskRP): the recordings use 2020-06-30..2021-04-01; azure-mgmt-compute 39.0.0's
    # request builders default to 2026-03-02
    "disk": ("2019-07-01", "2026-03-02"),
    "imagebuilder": ("2018-02-01", "2025-10-01"),
}

OPERATION_TYPES = (
    ResourceType("Microsoft.Compute", ("locations", "capsOperations"), "compute", lro.handle_status),
    ResourceType("Microsoft.Compute", ("locations", "operations"), "vm", lro.handle_status),
    ResourceType(
        "Microsoft.VirtualMachineImages", ("locations", "operations"), "imagebuilder", lro.handle_status
    ),
)


class Stats:
    """Request counters for `GET /_emulator/stats` (control requests are not counted)."""

    METHODS = ("GET", "PUT", "PATCH", "DELETE", "POST")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.by_method: Counter[str] = Counter({m: 0 for m in self.METHODS})
            self.by_operation: Counter[str] = Counter()
            self.throttled = 0
            self.throttled_by_policy: Counter[str] = Counter()
            self.faults = 0

    def count(self, method: str, operation: str) -> None:
        with self._lock:
            self.by_method[method] += 1
            self.by_operation[f"{method} {operation}"] += 1

    def add(self, *, throttled: int = 0, faults: int = 0, policy: str | None = None) -> None:
        with self._lock:
            self.throttled += throttled
            self.faults += faults
            if policy:
                self.throttled_by_policy[policy] += throttled

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "by_method": dict(self.by_method),
                "by_operation": dict(sorted(self.by_operation.items())),
                "throttled": self.throttled,
                "throttled_by_policy": dict(sorted(self.throttled_by_policy.items())),
                "faults": self.faults,
            }


class Emulator:
    """The request-level logic, independent of sockets."""

    def __init__(
        self, config: Config, state: State, faults: FaultSpec, rbac: dict[str, Any] | None = None
    ) -> None:
        self.config = config
        self.rbac = Rbac(rbac)
        self.state = state
        self.stats = Stats()
        self.throttle = Throttle(config.throttle, clock=lambda: state.clock.now().timestamp())
        self.faults = Faults(faults, config.seed)
        self.initial_config = dataclasses.replace(config)  # what POST /_emulator/reset restores
        self.initial_faults = faults
        state.fail_next_lro = self.faults.draw_lro_fail
        state.fail_region = self.faults.draw_region_fail
        self.registry: dict[tuple[str, tuple[str, ...]], ResourceType] = {
            rt.key: rt
            for rt in (
                *galleries.RESOURCE_TYPES,
                *imagebuilder.RESOURCE_TYPES,
                *vms.RESOURCE_TYPES,
                *marketplace.RESOURCE_TYPES,
                *disks.RESOURCE_TYPES,
                *images.RESOURCE_TYPES,
                *disk_encryption_sets.RESOURCE_TYPES,
                *shared_galleries.RESOURCE_TYPES,
                *OPERATION_TYPES,
            )
        }

    # -- entry point ---------------------------------------------------------------------------------
    def handle(self, req: Request) -> Response | None:
        """The answer to `req`, or None to drop the connection without answering."""
        if req.path == "/_emulator" or req.path.startswith("/_emulator/"):
            return control.handle(self, req)  # the control endpoints (emulator/control.py)
        if self.config.latency_ms > 0:
            time.sleep(self.config.latency_ms / 1000.0)
        tag_scope = tags.scope_of(req.path)
        if tag_scope is not None:
            return self._tags(req, tag_scope)
        is_events = req.path.rstrip("/").lower() == "/api/events"
        arm_path = None if is_events else parse_arm_path(req.path)
        route = match_route(arm_path, self.registry) if arm_path else None
        self.stats.count(req.method, self._operation_key(is_events, arm_path, route))

        try:
            self._authenticate(req, is_events)
            if arm_path is not None:
                # Only ARM is authorized here; the topic's data plane has its own keys and tokens.
                token = req.headers.get("authorization", "")[7:].strip()
                self.rbac.check(token, req.method, arm_path, req.path)
                self.rbac.check_linked(token, req.method, arm_path, req.body)
        except ArmError as err:
            return Response(err.status, err.body(), err.headers)

        fault = self.faults.draw_request()
        if fault is not None:
            return self._injected(fault)

        if is_events:
            return self._events(req)

        headers: dict[str, str] = {}
        if arm_path is not None:
            allowed, headers = self.throttle.take(arm_path.subscription, req.method)
            if not allowed:
                self.stats.add(throttled=1)
                kind = {"GET": "read", "DELETE": "delete"}.get(req.method, "write")
                return Response(
                    429,
                    error_body(
                        # ARM's own subscription limit; a resource provider's throttling says TooManyRequests.
                        "SubscriptionRequestsThrottled",
                        f"Number of '{kind}' requests for subscription '{arm_path.subscription}' exceeded. "
                        f"Please try again after '{headers['Retry-After']}' seconds after additional tokens "
                        "are available. "
                        "Refer to https://aka.ms/arm-throttling",
                    ),
                    headers,
                )
        # Past ARM's front door, Compute counts the request against its operation's policies and may
        # refuse it on its own (see emulator/throttle.py for the source and the stricter readings).
        policy = (
            resource_policy(req.method, route.rtype.full_type)
            if route is not None and arm_path is not None
            else None
        )
        region = self._region(arm_path, req) if policy and arm_path is not None else ""
        if policy and arm_path is not None:
            refusal = self.throttle.admit(arm_path.subscription, policy, region)
            if refusal is not None:
                self.stats.add(throttled=1, policy=refusal.policy)
                return Response(429, refusal.body(), {**headers, **refusal.headers})
        try:
            answer = self._arm(req, arm_path, route)
        except ArmError as err:
            answer = Response(err.status, err.body(), err.headers)
        answer.headers.update(headers)
        if policy and arm_path is not None:
            answer.headers["x-ms-ratelimit-remaining-resource"] = self.throttle.resource_header(
                arm_path.subscription, policy, region
            )
        return self._applied_fault(req, answer)

    def _applied_fault(self, req: Request, answer: Response) -> Response:
        """Fault `applied-500`: a write that took effect is answered 500 all the same (an ambiguous answer:
        azure-core retries the write, and the retry meets the changed resource)."""
        if req.method not in ("PUT", "PATCH", "DELETE", "POST") or answer.status >= 400:
            return answer
        if not self.faults.draw_applied_500():
            return answer
        self.stats.add(faults=1)
        return Response(
            500,
            error_body(
                "InternalServerError",
                "An internal server error occurred (injected fault: the request was applied).",
            ),
        )

    def _region(self, path: ArmPath, req: Request) -> str:
        """The region Compute counts a request in: the resource's (or its nearest existing parent's)
        location, a location-based path's location, or a new resource's `location`; '' when none is known.
        Source: "Azure Compute requests may be throttled at a subscription and on a per-region basis"
        (learn.microsoft.com/troubleshoot/azure/virtual-machines/troubleshooting-throttling-errors), and
        "All Compute throttling policies are implemented on a per-region basis" (learn.microsoft.com/azure/
        virtual-machines/compute-throttling-limits)."""
        from emulator import regions

        if path.types and path.types[0].lower() == "locations" and path.names:
            return regions.normalize(path.names[0])
        with self.state.lock:
            for upto in range(len(path.names), 0, -1):
                found = self.state.get(resource_id(path, upto))
                if found is not None and found.location:
                    return regions.normalize(found.location)
        if req.method == "PUT":
            with contextlib.suppress(ArmError):
                given = req.json()
                if isinstance(given, dict) and isinstance(given.get("location"), str):
                    return regions.normalize(given["location"])
        return ""

    def _injected(self, fault: str) -> Response | None:
        """The answer of an injected fault (None: the connection is dropped)."""
        self.stats.add(faults=1)
        if fault == "reset":
            return None
        if fault == "429":
            return Response(
                429,
                error_body(
                    "TooManyRequests", "The request was throttled (injected fault). Retry after 1 second."
                ),
                {"Retry-After": "1"},
            )
        if fault == "500":
            return Response(
                500,
                error_body("InternalServerError", "An internal server error occurred (injected fault)."),
            )
        return Response(503, error_body("ServiceUnavailable", "The service is unavailable (injected fault)."))

    def _tags(self, req: Request, scope: str) -> Response | None:
        """ARM's Tags API at a resource's scope (see emulator/tags.py for the spec and the rules): the same
        pipeline as any ARM request, authorized as `Microsoft.Resources/tags/<verb>` at the request's path."""
        self.stats.count(req.method, tags.TYPE)
        scope_path = parse_arm_path(scope)
        try:
            self._authenticate(req, False)
            token = req.headers.get("authorization", "")[7:].strip()
            self.rbac.check_action(token, tags.action(req.method), req.path.rstrip("/"))
        except ArmError as err:
            return Response(err.status, err.body(), err.headers)
        fault = self.faults.draw_request()
        if fault is not None:
            return self._injected(fault)
        subscription = scope_path.subscription if scope_path is not None else scope.split("/")[2]
        allowed, headers = self.throttle.take(subscription, req.method)
        if not allowed:
            self.stats.add(throttled=1)
            return Response(
                429,
                error_body(
                    "SubscriptionRequestsThrottled",
                    f"Number of requests for subscription '{subscription}' exceeded. Please try again after "
                    f"'{headers['Retry-After']}' seconds. Refer to https://aka.ms/arm-throttling",
                ),
                headers,
            )
        route = match_route(scope_path, self.registry) if scope_path is not None else None
        # Stricter reading (unconfirmed): a tag write reaches the resource's provider as a write of it, and
        # counts against that provider's write policy.
        policy = (
            resource_policy("PATCH", route.rtype.full_type)
            if route is not None and req.method in ("PUT", "PATCH", "DELETE")
            else None
        )
        region = self._region(scope_path, req) if scope_path is not None else ""
        if policy:
            refusal = self.throttle.admit(subscription, policy, region)
            if refusal is not None:
                self.stats.add(throttled=1, policy=refusal.policy)
                return Response(429, refusal.body(), {**headers, **refusal.headers})
        low, high = tags.API_WINDOW
        date = api_date(req.api_version)
        try:
            if not req.api_version:
                raise ArmError(
                    400,
                    "MissingApiVersionParameter",
                    "The api-version query parameter (?api-version=) is required for all requests.",
                )
            if not date or not low <= date <= high:
                raise ArmError(
                    400,
                    "InvalidApiVersionParameter",
                    f"The api-version '{req.api_version}' is invalid. The supported versions for resource "
                    f"type '{tags.TYPE}' are those from '{low}' to '{high}'.",
                )
            request = req.json() if req.method in ("PUT", "PATCH") else None
            with self.state.lock:
                self.state.tick()
                status, answer_body = tags.handle(self.state, req.method, scope, request)
            answer = Response(status, answer_body)
        except ArmError as err:
            answer = Response(err.status, err.body(), err.headers)
        answer.headers.update(headers)
        if policy:
            answer.headers["x-ms-ratelimit-remaining-resource"] = self.throttle.resource_header(
                subscription, policy, region
            )
        return self._applied_fault(req, answer)

    @staticmethod
    def _operation_key(is_events: bool, arm_path: ArmPath | None, route: Route | None) -> str:
        if is_events:
            return "Microsoft.EventGrid/events"
        if route is not None:
            return route.operation_key
        if arm_path is not None:
            return f"{arm_path.provider}/{'/'.join(arm_path.types)}"
        return "unknown"

    @staticmethod
    def _authenticate(req: Request, is_events: bool) -> None:
        auth = req.headers.get("authorization", "")
        has_bearer = auth.lower().startswith("bearer ") and bool(auth[7:].strip())
        if is_events:
            if req.headers.get("aeg-sas-key") or req.headers.get("aeg-sas-token") or has_bearer:
                return
            raise ArmError(
                401,
                "Unauthorized",
                "The request authorization key is not authorized. Provide the 'aeg-sas-key' header, an "
                "'aeg-sas-token' or a bearer token.",
            )
        if not auth:
            raise ArmError(
                401,
                "AuthenticationFailed",
                "Authentication failed. The 'Authorization' header is missing.",
                headers={
                    "WWW-Authenticate": 'Bearer authorization_uri="https://login.microsoftonline.com/common"'
                },
            )
        if not has_bearer:
            raise ArmError(
                401,
                "InvalidAuthenticationToken",
                "The access token is invalid: expected 'Authorization: Bearer <token>'.",
            )

    def _arm(self, req: Request, arm_path: ArmPath | None, route: Route | None) -> Response:
        version = req.api_version
        if not version:
            raise ArmError(
                400,
                "MissingApiVersionParameter",
                "The api-version query parameter (?api-version=) is required for all requests.",
            )
        if arm_path is None:
            raise ArmError(404, "NotFound", f"The requested path '{req.path}' is not an ARM resource path.")
        if route is None:
            raise ArmError(
                404,
                "InvalidResourceType",
                f"The resource type '{'/'.join(arm_path.types)}' could not be found in the namespace "
                f"'{arm_path.provider}' for api version '{version}'.",
            )
        low, high = API_WINDOWS[route.rtype.api]
        date = api_date(version)
        if not date or not low <= date <= high:
            raise ArmError(
                400,
                "InvalidApiVersionParameter",
                f"The api-version '{version}' is invalid. The supported versions for resource type "
                f"'{route.rtype.full_type}' are those from '{low}' to '{high}'.",
            )
        with self.state.lock:
            self.state.tick()
            return route.rtype.handler(self.state, req, route)

    def _events(self, req: Request) -> Response:
        if not req.api_version:
            return Response(400, error_body("BadRequest", "The api-version query parameter is required."))
        try:
            with self.state.lock:
                self.state.event_requests.append(
                    {
                        "authorization": req.headers.get("authorization"),
                        "aeg-sas-key": req.headers.get("aeg-sas-key"),
                        "aeg-sas-token": req.headers.get("aeg-sas-token"),
                    }
                )
                return eventgrid.publish(self.state, req)
        except ArmError as err:
            return Response(err.status, err.body(), err.headers)


# ------------------------------------------------------------------------------------------------------
# sockets


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    ssl_context: ssl.SSLContext
    emulator: Emulator
    endpoint: str

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("connection error from %s", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    _headers_buffer: list[bytes]
    server_version = "Microsoft-HTTPAPI/2.0"
    sys_version = ""

    def version_string(self) -> str:
        return self.server_version

    def setup(self) -> None:
        # The TLS handshake runs here, in the worker thread, so a slow client never blocks accept().
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.request = self.server.ssl_context.wrap_socket(self.request, server_side=True)
        self.connection = self.request
        super().setup()

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s - %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().strip().split(b";")[0] or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _dispatch(self) -> None:
        body = self._read_body()
        parts = urlsplit(self.path)
        req = Request(
            method=self.command.upper(),
            path=parts.path,
            query=dict(parse_qsl(parts.query, keep_blank_values=True)),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            endpoint=self.server.endpoint,
        )
        try:
            answer = self.server.emulator.handle(req)
        except Exception:  # a bug in a handler must not kill the connection thread silently
            log.exception("unhandled error for %s %s", req.method, req.path)
            answer = Response(
                500, error_body("InternalServerError", "The emulator failed to handle the request.")
            )
        if answer is None:
            self._drop()
            return
        self._send(answer, head_only=req.method == "HEAD")

    def _drop(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self.connection.close()

    def _send(self, answer: Response, head_only: bool = False) -> None:
        if answer.body is None:
            payload = b""
        elif isinstance(answer.body, bytes | bytearray):
            payload = bytes(answer.body)
        else:
            payload = json.dumps(answer.body, indent=2).encode()
        self.send_response(answer.status)
        request_id = str(uuid.uuid4())
        base = {
            "Cache-Control": "no-cache",
            "Pragma": "no-cache",
            "Expires": "-1",
            "x-ms-request-id": request_id,
            "x-ms-correlation-request-id": request_id,
            "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
            "X-Content-Type-Options": "nosniff",
        }
        if payload:
            base["Content-Type"] = "application/json; charset=utf-8"
        for key, value in {**base, **answer.headers}.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        # Headers and body leave in one write: separate small writes stall on Nagle + delayed ACK.
        self._headers_buffer.append(b"\r\n")
        if payload and not head_only:
            self._headers_buffer.append(payload)
        self.wfile.write(b"".join(self._headers_buffer))
        self._headers_buffer = []


def create_server(host: str, port: int, emulator: Emulator, cert_file: str, key_file: str) -> _Server:
    """Bind the HTTPS server; `server.endpoint` is the base URL clients use."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_file, key_file)
    server = _Server((host, port), _Handler, bind_and_activate=True)
    server.ssl_context = context
    server.emulator = emulator
    bound_port = server.server_address[1]
    url_host = "127.0.0.1" if host in ("", "0.0.0.0") else host
    if ":" in url_host:
        url_host = f"[{url_host}]"
    server.endpoint = f"https://{url_host}:{bound_port}"
    return server
