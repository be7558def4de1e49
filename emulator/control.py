"""The `/_emulator/` control endpoints, as a table: (name, method) -> handler.

Tests and tools steer the emulator through them (they are not Azure's: never authenticated, counted,
throttled or faulted). `METHOD_ANY` answers every method the table does not name for that endpoint; an
endpoint or method the table does not hold answers 404 NotFound, a bad body 400 InvalidRequestContent.

| endpoint | method | does |
| --- | --- | --- |
| stats | GET | request counters |
| reset | POST | back to the start: config, faults, state, counters, RBAC, throttle |
| time | POST / any | `{"now": ISO8601}` or `{"advance_seconds": N}`, then the virtual time; any: the time |
| events, event-requests | GET | what was published to the topic, and with which credentials |
| topic | POST | make the topic refuse deliveries (eventgrid.set_refusal) |
| marketplace | POST / any | publish a platform image version; any: the catalogue |
| faults | POST / any | `{"spec": "...", "seed": N}`; any: the spec and the injected counts |
| rbac | POST / any | load role assignments; any: what is loaded |
| replication | POST | force a region's replication outcome (galleries.force_replication) |
| validation | POST | set a version's platform signals (galleries.validation.set_signals) |
| config | POST / any | change timings, paging, latency, throttling; any: the config |
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from emulator import eventgrid, galleries, marketplace
from emulator.arm import Request, Response
from emulator.clock import format_iso, parse_iso
from emulator.errors import ArmError
from emulator.faults import FaultSpec
from emulator.galleries.validation import set_signals

if TYPE_CHECKING:
    from emulator.server import Emulator

PREFIX = "/_emulator"
METHOD_ANY = "*"
Handler = Callable[["Emulator", Request], Response]


def handle(emu: Emulator, req: Request) -> Response:
    """The answer of a control request; errors answer as ARM's error body."""
    name = req.path[len(PREFIX) :].strip("/").lower()
    try:
        handler = ENDPOINTS.get((name, req.method)) or ENDPOINTS.get((name, METHOD_ANY))
        if handler is None:
            raise ArmError(404, "NotFound", f"Unknown control endpoint {req.method} {PREFIX}/{name}.")
        return handler(emu, req)
    except ArmError as err:
        return Response(err.status, err.body())


def body_of(req: Request) -> Any:
    """The request's JSON, its text when it is not JSON, or None when empty."""
    if not req.body.strip():
        return None
    try:
        return json.loads(req.body)
    except ValueError:
        return req.body.decode("utf-8", errors="replace").strip()


def object_of(req: Request) -> dict[str, Any]:
    body = body_of(req)
    if not isinstance(body, dict):
        raise ArmError(400, "InvalidRequestContent", "Expected a JSON object.")
    return body


# -- endpoints ---------------------------------------------------------------------------------------------
def stats(emu: Emulator, req: Request) -> Response:
    return Response(200, emu.stats.snapshot())


def reset(emu: Emulator, req: Request) -> Response:
    state = emu.state
    with state.lock:
        for item in dataclasses.fields(emu.config):
            setattr(emu.config, item.name, getattr(emu.initial_config, item.name))
        emu.throttle.enabled = emu.config.throttle
        emu.faults.set(emu.initial_faults)
        emu.faults.reset()
        state.reset()
        emu.stats.reset()
        emu.rbac.reset()
        emu.throttle.reset()
    return Response(200, {"reset": True, "now": format_iso(state.now())})


def now(emu: Emulator, req: Request) -> Response:
    return Response(200, {"now": format_iso(emu.state.now())})


def set_time(emu: Emulator, req: Request) -> Response:
    state = emu.state
    body = body_of(req)
    if not isinstance(body, dict) or not ({"now", "advance_seconds"} & set(body)):
        raise ArmError(400, "InvalidRequestContent", 'Expected {"now": ISO8601} or {"advance_seconds": N}.')
    with state.lock:
        if "now" in body:
            try:
                state.clock.set(parse_iso(str(body["now"])))
            except ValueError as exc:
                raise ArmError(400, "InvalidRequestContent", f"Bad instant: {body['now']!r}") from exc
        else:
            state.clock.advance(float(body["advance_seconds"]))
        state.tick()
    return now(emu, req)


def events(emu: Emulator, req: Request) -> Response:
    with emu.state.lock:
        return Response(200, list(emu.state.events))


def event_requests(emu: Emulator, req: Request) -> Response:
    with emu.state.lock:
        return Response(200, list(emu.state.event_requests))


def topic(emu: Emulator, req: Request) -> Response:
    with emu.state.lock:
        return Response(200, eventgrid.set_refusal(emu.state, body_of(req)))


def publish_image(emu: Emulator, req: Request) -> Response:
    with emu.state.lock:
        return marketplace.publish(emu.state, body_of(req))


def catalogue(emu: Emulator, req: Request) -> Response:
    with emu.state.lock:
        return marketplace.listing(emu.state)


def faults(emu: Emulator, req: Request) -> Response:
    return Response(200, {"faults": emu.faults.spec.describe(), "injected": dict(emu.faults.injected)})


def set_faults(emu: Emulator, req: Request) -> Response:
    body = body_of(req)
    text = body.get("spec", body.get("faults", "")) if isinstance(body, dict) else (body or "")
    try:
        emu.faults.set(FaultSpec.parse(str(text)))
        if isinstance(body, dict) and body.get("seed") is not None:
            emu.faults.reseed(int(body["seed"]))
    except (TypeError, ValueError) as exc:
        raise ArmError(400, "InvalidRequestContent", str(exc)) from exc
    return faults(emu, req)


def rbac(emu: Emulator, req: Request) -> Response:
    return Response(200, emu.rbac.snapshot())


def load_rbac(emu: Emulator, req: Request) -> Response:
    emu.rbac.load(body_of(req))
    return rbac(emu, req)


def replication(emu: Emulator, req: Request) -> Response:
    body = object_of(req)
    with emu.state.lock:
        emu.state.tick()
        return Response(200, galleries.force_replication(emu.state, body))


def validation(emu: Emulator, req: Request) -> Response:
    with emu.state.lock:
        emu.state.tick()
        return set_signals(emu.state, body_of(req))


def config(emu: Emulator, req: Request) -> Response:
    cfg = emu.config
    return Response(
        200,
        {
            "replication_seconds": cfg.replication_seconds,
            "replication_lag_seconds": cfg.replication_lag_seconds,
            "delete_seconds": cfg.delete_seconds,
            "page_size": cfg.page_size,
            "latency_ms": cfg.latency_ms,
            "throttle": cfg.throttle,
            "compute_limits": {k: list(v) for k, v in sorted(emu.throttle.limits.items())},
            "faults": emu.faults.spec.describe(),
        },
    )


def set_config(emu: Emulator, req: Request) -> Response:
    body = object_of(req)
    with emu.state.lock:
        apply_config(emu, body)
    return config(emu, req)


def apply_config(emu: Emulator, body: dict[str, Any]) -> None:
    cfg = emu.config
    try:
        if "replication_seconds" in body:
            cfg.replication_seconds = max(0.0, float(body["replication_seconds"]))
        if "replication_lag_seconds" in body:
            cfg.replication_lag_seconds = max(0.0, float(body["replication_lag_seconds"]))
        if "delete_seconds" in body:
            cfg.delete_seconds = max(0.0, float(body["delete_seconds"]))
        if "page_size" in body:
            cfg.page_size = max(1, int(body["page_size"]))
        if "latency_ms" in body:
            cfg.latency_ms = max(0, int(body["latency_ms"]))
        if "throttle" in body:
            cfg.throttle = bool(body["throttle"])
            emu.throttle.enabled = cfg.throttle
        if "compute_limits" in body:
            # Scaled-down Compute policies, so a test can fill a 30-minute window with a few writes:
            # {"CreateUpdateGalleryImageVersion": [3-minute limit, 30-minute limit], ...}.
            for name, pair in dict(body["compute_limits"]).items():
                short, long = (int(x) for x in pair)
                if short < 1 or long < 1:
                    raise ValueError(f"limits of {name} must be positive")
                emu.throttle.limits[str(name)] = (short, long)
    except (TypeError, ValueError) as exc:
        raise ArmError(400, "InvalidRequestContent", f"Bad config value: {exc}") from exc


ENDPOINTS: dict[tuple[str, str], Handler] = {
    ("stats", "GET"): stats,
    ("reset", "POST"): reset,
    ("time", "POST"): set_time,
    ("time", METHOD_ANY): now,
    ("events", "GET"): events,
    ("event-requests", "GET"): event_requests,
    ("topic", "POST"): topic,
    ("marketplace", "POST"): publish_image,
    ("marketplace", METHOD_ANY): catalogue,
    ("faults", "POST"): set_faults,
    ("faults", METHOD_ANY): faults,
    ("rbac", "POST"): load_rbac,
    ("rbac", METHOD_ANY): rbac,
    ("replication", "POST"): replication,
    ("validation", "POST"): validation,
    ("config", "POST"): set_config,
    ("config", METHOD_ANY): config,
}
