"""Replays one cassette, in order, against a fresh in-process emulator, as cli-recordings/README.md
describes:

* the clock starts at the recording's first `Date` and follows each answer's `Date`; where a poll shows
  Azure's operation finished, or a read or an accepted write shows the resource idle on Azure, the
  emulator's operations are moved to their end too (timing is not what is compared);
* each request goes with its recorded method, path, query (api-version included) and body, through the
  emulator's whole pipeline (`Emulator.handle`, the same code the HTTPS server runs);
* a poll of Azure's operation URL follows the emulator's own operation URL from the matching write
  (`Azure-AsyncOperation`, or `Location` for `monitor=true`);
* names Azure generated (a gallery's `identifier.uniqueName`, community `publicNames`) are mapped to the
  emulator's in later paths and bodies;
* resources a skipped template deployment made (VMs, scale sets) are created from the recorded answer of
  their first read, and platform images Azure publishes are published from the recorded Marketplace reads;
* what the emulator does not stand in for is skipped with its reason: other providers, resource groups,
  Microsoft Graph and Key Vault data planes, and the VM power and guest actions the product never calls.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from emulator.arm import ArmPath, Request, Response, parse_arm_path
from emulator.clock import VirtualClock
from emulator.faults import FaultSpec
from emulator.replay.cassette import Cassette, Interaction, parse_json
from emulator.replay.compare import Difference, compare
from emulator.server import Emulator
from emulator.state import Config, State

ENDPOINT = "https://emulator.replay"
_GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)
SERVED_PROVIDERS = ("microsoft.compute", "microsoft.virtualmachineimages")
BUSY = ("Creating", "Updating", "Deleting")
OPERATION_COLLECTIONS = ("capsoperations", "operations", "diskoperations")
# ComputeRP's VM actions the product never calls (power, guest and capture actions): listed, not served.
VM_ACTIONS = (
    "deallocate",
    "generalize",
    "runcommand",
    "start",
    "restart",
    "poweroff",
    "redeploy",
    "reimage",
    "capture",
    "performmaintenance",
    "simulateeviction",
    "assesspatches",
    "installpatches",
)
TOP_LEVEL = ("zones", "identity", "plan", "sku", "extendedLocation")
READ_ONLY_VM = ("instanceView", "provisioningState", "vmId", "uniqueId", "timeCreated")
DEPLOYMENT = (
    "template deployment (not emulated; the VMs and scale sets it made are created from the recorded answer)"
)
# Query parameters Azure adds to its signed operation URLs and ARM's internal routing hint `p`.
SIGNATURE_PARAMS = ("t", "c", "s", "h", "p")


@dataclass
class Outcome:
    """What became of one recorded interaction."""

    cassette: str
    index: int
    method: str
    target: str
    api_version: str
    kind: str  # "compared", "skipped"
    cause: str = ""  # a mismatch's cause, or the reason it was skipped
    detail: str = ""
    extra: list[str] = field(default_factory=list)

    @property
    def mismatch(self) -> bool:
        return self.kind == "compared" and bool(self.cause)


def short_path(path: str) -> str:
    """The path without its subscription and resource group, for reports."""
    arm = parse_arm_path(path)
    if arm is None:
        return path
    pairs = [f"{t}/{n}" for t, n in zip(arm.types, arm.names, strict=False)]
    if len(arm.types) > len(arm.names):
        pairs.append(arm.types[-1])
    return f"{arm.provider}/{'/'.join(pairs)}"


def _operation_id(url: str) -> str:
    return urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1].lower() if url else ""


def _is_operation(arm: ArmPath) -> bool:
    return (
        len(arm.types) == 2
        and arm.types[0].lower() == "locations"
        and arm.types[1].lower() in OPERATION_COLLECTIONS
    )


class Replayer:
    """One cassette against one fresh emulator."""

    def __init__(self, cassette: Cassette, *, replication_seconds: float = 30.0) -> None:
        self.cassette = cassette
        self.config = Config(replication_seconds=replication_seconds)
        self.state = State(self.config, VirtualClock(cassette.first_date))
        self.emulator = Emulator(self.config, self.state, FaultSpec.parse(""))
        self.names: dict[str, str] = {}  # a name Azure generated -> the emulator's
        self.operations: dict[str, tuple[str, str]] = {}  # Azure's operation id -> emulator URLs
        self.skipped_operations: dict[str, str] = {}  # Azure's operation id -> why its write was skipped
        self.seeded: set[str] = set()

    # -- driving -------------------------------------------------------------------------------------
    def run(self) -> list[Outcome]:
        return list(self._outcomes())

    def _outcomes(self) -> Iterator[Outcome]:
        for item in self.cassette.interactions:
            self._advance(item.date)
            yield self._one(item)

    def _advance(self, moment: datetime | None) -> None:
        if moment is not None and moment > self.state.now():
            with self.state.lock:
                self.state.clock.set(moment)

    def _outcome(self, item: Interaction, kind: str, cause: str = "", detail: str = "") -> Outcome:
        return Outcome(
            self.cassette.name,
            item.index,
            item.method,
            short_path(item.path),
            item.api_version,
            kind,
            cause,
            detail,
        )

    def _one(self, item: Interaction) -> Outcome:
        skip = self._skip_reason(item)
        if skip:
            self._remember_skipped_operation(item, skip)
            if skip == DEPLOYMENT:
                self._seed_from_deployment(item)
            return self._outcome(item, "skipped", skip)
        arm = parse_arm_path(item.path)
        assert arm is not None
        if _is_operation(arm):
            return self._poll(item)
        if "/artifacttypes/" in item.path.lower() and item.status == 200:
            self._seed_marketplace(item)
        if self._settled_in_azure(item):
            self._settle(self._map(item.path))
        answer = self._send(item.method, self._map(item.path), self._query(item), self._map_body(item))
        self._learn(item, answer)
        return self._judge(item, answer)

    # -- classification ------------------------------------------------------------------------------
    def _skip_reason(self, item: Interaction) -> str:
        path = item.path
        lowered = path.lower().rstrip("/")
        arm = parse_arm_path(path)
        if arm is None:
            if lowered.startswith("/subscriptions/") and "/resourcegroups/" in lowered:
                return "resource groups are not emulated"
            if lowered.startswith("/subscriptions/"):
                return "subscription reads (locations, providers) are not emulated"
            return "not an ARM resource path (data planes: Microsoft Graph, Key Vault, Storage, Event Grid)"
        provider = arm.provider.lower()
        if provider == "microsoft.resources" and arm.types and arm.types[0].lower() == "deployments":
            return DEPLOYMENT
        if provider not in SERVED_PROVIDERS:
            return f"provider {arm.provider} is not emulated"
        if _is_operation(arm):
            op = _operation_id(item.url)
            return self.skipped_operations.get(op, "")
        types = [t.lower() for t in arm.types]
        if types and types[0] == "virtualmachines":
            if len(types) == 2 and len(arm.names) == 1 and types[1] in VM_ACTIONS:
                return f"VM action '{arm.types[1]}' (power and guest actions are never called by the product)"
            if (item.query.get("$expand") or "").lower() == "instanceview":
                return "VM instance view (power and guest state, never read by the product)"
        return ""

    def _remember_skipped_operation(self, item: Interaction, reason: str) -> None:
        for name in ("azure-asyncoperation", "location"):
            op = _operation_id(item.header(name))
            if op:
                self.skipped_operations[op] = reason

    # -- requests ------------------------------------------------------------------------------------
    def _map(self, text: str) -> str:
        for azure, ours in sorted(self.names.items(), key=lambda kv: -len(kv[0])):
            text = text.replace(azure, ours)
        return text

    def _map_body(self, item: Interaction) -> bytes:
        if not item.request_body:
            return b""
        return self._map(item.request_body.decode("utf-8", errors="replace")).encode("utf-8")

    def _query(self, item: Interaction) -> dict[str, str]:
        return {k: self._map(v) for k, v in item.query.items() if k not in SIGNATURE_PARAMS}

    def _send(self, method: str, path: str, query: dict[str, str], body: bytes) -> Response:
        headers = {"authorization": "Bearer replay"}
        if body:
            headers["content-type"] = "application/json"
        req = Request(method, path, query, headers, body, ENDPOINT)
        answer = self.emulator.handle(req)
        if answer is None:  # the emulator dropped the connection (only faults do; none are on)
            return Response(599, None)
        return answer

    def _control(self, name: str, body: dict[str, Any]) -> Response:
        return self._send("POST", f"/_emulator/{name}", {}, json.dumps(body).encode())

    # -- operation URLs ------------------------------------------------------------------------------
    def _learn(self, item: Interaction, answer: Response) -> None:
        async_op = _operation_id(item.header("azure-asyncoperation"))
        monitor_op = _operation_id(item.header("location"))
        ours = answer.headers.get("Azure-AsyncOperation", "")
        our_monitor = answer.headers.get("Location", "")
        for op in {async_op, monitor_op} - {""}:
            if ours or our_monitor:
                self.operations[op] = (ours or our_monitor, our_monitor or ours)
        self._learn_names(item.response_json(), _json_of(answer))

    def _learn_names(self, azure: Any, ours: Any) -> None:
        """Map the names Azure generated to the emulator's, found at the same place in both bodies."""
        if not isinstance(azure, dict) or not isinstance(ours, dict):
            return
        a_props, o_props = azure.get("properties") or {}, ours.get("properties") or {}
        if not isinstance(a_props, dict) or not isinstance(o_props, dict):
            return
        a_id, o_id = a_props.get("identifier") or {}, o_props.get("identifier") or {}
        if isinstance(a_id, dict) and isinstance(o_id, dict):
            a_unique, o_unique = a_id.get("uniqueName"), o_id.get("uniqueName")
            self._pair(a_unique, o_unique)
            # A uniqueName starts with the gallery's subscription id, which the recording's scrubbing left
            # real; requests that name that subscription (a `share` to it) get the emulator's.
            if isinstance(a_unique, str) and isinstance(o_unique, str):
                a_sub, o_sub = a_unique[:36], o_unique[:36]
                if _GUID.match(a_sub) and _GUID.match(o_sub):
                    self._pair(a_sub, o_sub)
        a_info = (a_props.get("sharingProfile") or {}).get("communityGalleryInfo") or {}
        o_info = (o_props.get("sharingProfile") or {}).get("communityGalleryInfo") or {}
        if isinstance(a_info, dict) and isinstance(o_info, dict):
            for a_name, o_name in zip(
                a_info.get("publicNames") or [], o_info.get("publicNames") or [], strict=False
            ):
                self._pair(a_name, o_name)

    def _pair(self, azure: Any, ours: Any) -> None:
        if isinstance(azure, str) and isinstance(ours, str) and azure and ours and azure != ours:
            self.names.setdefault(azure, ours)

    def _poll(self, item: Interaction) -> Outcome:
        op = _operation_id(item.url)
        urls = self.operations.get(op)
        if urls is None:
            return self._outcome(
                item, "compared", "operation not followed", "no write in this recording started it"
            )
        url = urls[1] if item.query.get("monitor", "").lower() == "true" else urls[0]
        parts = urlsplit(url)
        self._catch_up(item, _operation_id(url))
        answer = self._send("GET", parts.path, dict(parse_qsl(parts.query)), b"")
        return self._judge(item, answer)

    def _catch_up(self, item: Interaction, our_op: str) -> None:
        """Where Azure's operation had finished at this poll, the emulator's is moved to its end: the replay
        follows the recording's timeline, whatever `--replication-seconds` says."""
        recorded = item.response_json()
        finished = (
            recorded.get("status") not in (None, "InProgress")
            if isinstance(recorded, dict)
            else item.status in (200, 204)
        )
        with self.state.lock:
            op = self.state.operations.get(our_op)
            if finished and op is not None and not op.done(self.state.now()):
                self.state.clock.set(op.finish_at)
                self.state.tick()

    @staticmethod
    def _settled_in_azure(item: Interaction) -> bool:
        """Whether the recording shows the addressed resource idle: a write Azure accepted, or a read
        answering a finished provisioningState."""
        if item.method in ("PUT", "PATCH", "DELETE", "POST"):
            return 200 <= item.status < 300
        body = item.response_json()
        props = body.get("properties") if isinstance(body, dict) else None
        state = props.get("provisioningState") if isinstance(props, dict) else None
        return state in ("Succeeded", "Failed", "Canceled")

    def _settle(self, path: str) -> None:
        """Move the clock on until the emulator's resource is idle too (its replication or delete done):
        where a client waited by reading the resource, the replay follows the recording's timeline."""
        rid = path.split("/providers/Microsoft.Resources/", 1)[0]  # a Tags API call names its resource
        with self.state.lock:
            for _ in range(100):
                found = self.state.get(rid)
                if found is None or found.provisioning_state not in BUSY:
                    return
                pending = [op.finish_at for op in self.state.operations.values() if not op.completed]
                if not pending:
                    return
                self.state.clock.set(max(self.state.now(), min(pending)))
                self.state.tick()

    # -- seeding what Azure made outside the recorded calls ------------------------------------------
    def _seed_from_deployment(self, item: Interaction) -> None:
        body = item.response_json()
        if item.method != "GET" or not isinstance(body, dict):
            return
        outputs = (body.get("properties") or {}).get("outputResources") or []
        for output in outputs:
            rid = str((output or {}).get("id") or "")
            arm = parse_arm_path(rid)
            if arm is None or arm.provider.lower() != "microsoft.compute" or rid.lower() in self.seeded:
                continue
            if arm.types[0].lower() not in ("virtualmachines", "virtualmachinescalesets"):
                continue
            read = self._first_read(rid, after=item.index)
            if read is None:
                continue
            self.seeded.add(rid.lower())
            recorded = read.response_json()
            put: dict[str, Any] = {
                "location": recorded.get("location"),
                "tags": recorded.get("tags") or {},
                "properties": {
                    k: v for k, v in (recorded.get("properties") or {}).items() if k not in READ_ONLY_VM
                },
            }
            put.update({k: recorded[k] for k in TOP_LEVEL if k in recorded})
            self._send("PUT", rid, {"api-version": read.api_version}, json.dumps(put).encode())

    def _first_read(self, rid: str, after: int) -> Interaction | None:
        for later in self.cassette.interactions[after + 1 :]:
            same = later.method == "GET" and later.status == 200 and later.path.lower() == rid.lower()
            if same and isinstance(later.response_json(), dict):
                return later
        return None

    def _seed_marketplace(self, item: Interaction) -> None:
        """Platform images are Azure's, not the test's: publish the ones the recording read."""
        arm = parse_arm_path(item.path)
        if arm is None or len(arm.names) < 5:
            return
        location, publisher, _, offer, sku = arm.names[:5]
        body = item.response_json()
        versions: list[str] = []
        if len(arm.names) >= 6:
            versions.append(arm.names[5])
        elif isinstance(body, list):
            versions.extend(str(v.get("name")) for v in body if isinstance(v, dict))
        for version in versions:
            read = self._first_read(
                f"{item.path.rsplit('/versions', 1)[0]}/versions/{version}", item.index - 1
            )
            recorded = read.response_json() if read is not None else None
            properties = recorded.get("properties") if isinstance(recorded, dict) else None
            self._control(
                "marketplace",
                {
                    "location": location,
                    "publisher": publisher,
                    "offer": offer,
                    "sku": sku,
                    "version": version,
                    "properties": properties or {},
                },
            )

    # -- judging -------------------------------------------------------------------------------------
    def _judge(self, item: Interaction, answer: Response) -> Outcome:
        ours = _json_of(answer)
        azure = item.response_json()
        outcome = self._outcome(item, "compared")
        diff: Difference = compare(item.status, azure, answer.status, ours)
        outcome.extra = diff.extra
        if diff.status is not None:
            code = _code(ours)
            if answer.status == 404 and code in ("InvalidResourceType", "NotFound") and item.status != 404:
                outcome.cause, outcome.detail = "route not served", f"{answer.status} {code}"
            else:
                message = _message(ours)
                outcome.cause = "status"
                outcome.detail = f"Azure {item.status}, emulator {answer.status} {code} {message}".strip()
        elif diff.error is not None:
            outcome.cause = "error code"
            outcome.detail = f"Azure {diff.error[0]!r}, emulator {diff.error[1]!r}"
        elif diff.missing:
            outcome.cause = "missing keys"
            outcome.detail = ", ".join(diff.missing)
        return outcome


def _json_of(answer: Response) -> Any:
    if answer.body is None:
        return None
    if isinstance(answer.body, bytes | bytearray):
        return parse_json(bytes(answer.body).decode("utf-8", errors="replace"))
    # Through JSON and back, as a client would see it.
    return json.loads(json.dumps(answer.body))


def _code(body: Any) -> str:
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return str(body["error"].get("code") or "")
    return ""


def _message(body: Any) -> str:
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return str(body["error"].get("message") or "")[:160]
    return ""
