"""What the app remembers between runs, per image definition, in the state container.

ARM is the source of truth for versions; this holds only what ARM cannot: build metadata waiting for a
version to become writable, which versions are being watched until replication completes, the failed
regions being healed, and the rebake schedule's memory.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from types import MappingProxyType
from typing import Any

from lifecycle.model import iso, parse_time
from lifecycle.outbox import OutboxEntry


@dataclass(frozen=True)
class PendingBuild:
    """Build metadata from a BuildCompleted event, kept until its tags land on the version."""

    tags: Mapping[str, str]
    lifetime_days: int | None = None
    received: datetime | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "tags", MappingProxyType(dict(self.tags)))

    def to_json(self) -> dict[str, Any]:
        return {
            "tags": dict(self.tags),
            "lifetime_days": self.lifetime_days,
            "received": iso(self.received) if self.received else None,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PendingBuild:
        received = data.get("received")
        return cls(
            tags=dict(data.get("tags") or {}),
            lifetime_days=data.get("lifetime_days"),
            received=parse_time(received) if received else None,
        )


@dataclass(frozen=True)
class GateRecord:
    """An operator's approval (`by`) or revocation (`reason`) of one version, from the CLI or an event,
    kept until its tags are on the version (a version being written cannot take them yet)."""

    by: str | None = None
    reason: str | None = None
    source: str | None = None  # "cli", or the event's source
    at: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "by": self.by,
            "reason": self.reason,
            "source": self.source,
            "at": iso(self.at) if self.at else None,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> GateRecord:
        at = data.get("at")
        return cls(
            by=data.get("by"),
            reason=data.get("reason"),
            source=data.get("source"),
            at=parse_time(at) if at else None,
        )


@dataclass(frozen=True)
class RequestedGate:
    """An approval (or revocation) an event delivered while the fan-out queue runs the work: recorded by
    the delivery after its trust check, judged (is the version approvable?) and applied by the image's next
    run, exactly as an inline event's (`lifecycle.reconcile.phases.gate_requests.take_requests`)."""

    kind: str  # "approve" | "revoke"
    version: str  # the version's name within the image
    by: str | None = None
    reason: str | None = None
    source: str | None = None
    event_id: str | None = None
    at: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "version": self.version,
            "by": self.by,
            "reason": self.reason,
            "source": self.source,
            "event_id": self.event_id,
            "at": iso(self.at) if self.at else None,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RequestedGate:
        at = data.get("at")
        return cls(
            kind=str(data.get("kind") or "approve"),
            version=str(data.get("version") or ""),
            by=data.get("by"),
            reason=data.get("reason"),
            source=data.get("source"),
            event_id=data.get("event_id"),
            at=parse_time(at) if at else None,
        )


@dataclass(frozen=True)
class RebakeState:
    """The rebake schedule's memory for one image (see `lifecycle.planning.rebake` for how it moves).

    `last_trigger` is when this app last started a run or published a request (the app's clock).
    `run_started`/`run_id` describe the Image Builder run being watched while `running`; `run_seen` is the
    template's last run status already accounted for (so one finished run is counted once) and `run_ended`
    is when this app saw the watched run end. `consecutive_failures` drives the back-off; `halted` stops
    triggering until a successful run or a change of `policy_digest`.
    """

    last_trigger: datetime | None = None
    run_started: datetime | None = None
    run_id: str | None = None
    running: bool = False
    consecutive_failures: int = 0
    halted: bool = False
    policy_digest: str | None = None
    last_outcome: str | None = None
    run_seen: str | None = None
    run_ended: datetime | None = None
    last_message: str | None = None
    base_seen: str | None = None  # the newest base image a rebake was already triggered for
    deprecation_seen: str | None = None  # "<base>|<state>" a deprecation rebake was triggered for
    deprecation_announced: str | None = None  # "<base>|<state>" BaseImageDeprecated was published for

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "last_trigger": iso(self.last_trigger) if self.last_trigger else None,
            "run_started": iso(self.run_started) if self.run_started else None,
            "run_id": self.run_id,
            "running": self.running,
            "consecutive_failures": self.consecutive_failures,
            "halted": self.halted,
            "policy_digest": self.policy_digest,
            "last_outcome": self.last_outcome,
            "run_seen": self.run_seen,
            "run_ended": iso(self.run_ended) if self.run_ended else None,
            "last_message": self.last_message,
        }
        if self.base_seen is not None:
            out["base_seen"] = self.base_seen
        for key in ("deprecation_seen", "deprecation_announced"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RebakeState:
        # Documents written before a field existed simply lack it: every field has a default.
        def when(key: str) -> datetime | None:
            value = data.get(key)
            return parse_time(value) if value else None

        return cls(
            last_trigger=when("last_trigger"),
            run_started=when("run_started"),
            run_id=data.get("run_id"),
            running=bool(data.get("running", False)),
            consecutive_failures=int(data.get("consecutive_failures") or 0),
            halted=bool(data.get("halted", False)),
            policy_digest=data.get("policy_digest"),
            last_outcome=data.get("last_outcome"),
            run_seen=data.get("run_seen"),
            run_ended=when("run_ended"),
            last_message=data.get("last_message"),
            base_seen=data.get("base_seen"),
            deprecation_seen=data.get("deprecation_seen"),
            deprecation_announced=data.get("deprecation_announced"),
        )


@dataclass(frozen=True)
class RegionHeal:
    """A failed region of a version being healed (see `lifecycle.planning.healing` for how it moves).

    `failures` counts the failures seen (the first included); `step` is the last healing write (retried,
    removed, readded) or gave_up; `pending` is true from a healing write until its outcome is observed;
    `since` is when the failure was first seen; `entry` is the region's target entry as observed, wire
    names, so that a removed region is added back exactly as it was (encryption included).
    """

    failures: int = 1
    step: str = ""
    pending: bool = False
    since: datetime | None = None
    last_write: datetime | None = None
    entry: Mapping[str, Any] | None = None
    reported: bool = False
    details: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "failures": self.failures,
            "step": self.step,
            "pending": self.pending,
            "since": iso(self.since) if self.since else None,
            "last_write": iso(self.last_write) if self.last_write else None,
            "entry": json.loads(json.dumps(self.entry, default=_plain)) if self.entry is not None else None,
            "reported": self.reported,
            "details": self.details,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RegionHeal:
        def when(key: str) -> datetime | None:
            value = data.get(key)
            return parse_time(value) if value else None

        entry = data.get("entry")
        return cls(
            failures=int(data.get("failures") or 1),
            step=str(data.get("step") or ""),
            pending=bool(data.get("pending", False)),
            since=when("since"),
            last_write=when("last_write"),
            entry=dict(entry) if isinstance(entry, Mapping) else None,
            reported=bool(data.get("reported", False)),
            details=data.get("details"),
        )


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"not JSON-able: {type(value).__name__}")


@dataclass(frozen=True)
class ImageState:
    replicating: frozenset[str] = frozenset()
    pending_builds: Mapping[str, PendingBuild] = field(default_factory=dict)
    rebake: RebakeState = field(default_factory=RebakeState)
    # version name -> region name (or "*" for a failure of the version as a whole) -> healing record
    healing: Mapping[str, Mapping[str, RegionHeal]] = field(default_factory=dict)
    # Lifecycle events not yet delivered (see lifecycle.outbox); kept with the state they belong to.
    outbox: tuple[OutboxEntry, ...] = ()
    approvals: Mapping[str, GateRecord] = field(default_factory=dict)
    revocations: Mapping[str, GateRecord] = field(default_factory=dict)
    # When a version waiting for its build event is to be written anyway; a wake-up was scheduled for it.
    recheck_at: datetime | None = None
    # Version name -> the end-of-life date (YYYY-MM-DD) its consumers were warned of (VersionExpiring).
    warned: Mapping[str, str] = field(default_factory=dict)
    # Approvals delivered by events and recorded while the fan-out queue runs the work, not yet judged.
    gate_requests: tuple[RequestedGate, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "pending_builds", MappingProxyType(dict(self.pending_builds)))
        object.__setattr__(
            self,
            "healing",
            MappingProxyType({v: MappingProxyType(dict(r)) for v, r in self.healing.items() if r}),
        )
        object.__setattr__(self, "approvals", MappingProxyType(dict(self.approvals)))
        object.__setattr__(self, "revocations", MappingProxyType(dict(self.revocations)))
        object.__setattr__(self, "warned", MappingProxyType(dict(self.warned)))

    def with_approval(self, version: str, record: GateRecord) -> ImageState:
        return replace(self, approvals={**self.approvals, version: record})

    def with_revocation(self, version: str, record: GateRecord) -> ImageState:
        return replace(self, revocations={**self.revocations, version: record})

    def with_request(self, request: RequestedGate) -> ImageState:
        """A delivered approval or revocation, once per event (a redelivery records nothing more)."""
        if request.event_id and any(r.event_id == request.event_id for r in self.gate_requests):
            return self
        return replace(self, gate_requests=(*self.gate_requests, request))

    def with_build(self, version: str, build: PendingBuild) -> ImageState:
        builds = dict(self.pending_builds)
        previous = builds.get(version)
        if previous is not None:
            build = PendingBuild(
                tags={**previous.tags, **build.tags},
                lifetime_days=build.lifetime_days or previous.lifetime_days,
                received=build.received or previous.received,
            )
        builds[version] = build
        return replace(self, pending_builds=builds)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "replicating": sorted(self.replicating),
            "pending_builds": {k: v.to_json() for k, v in sorted(self.pending_builds.items())},
            "rebake": self.rebake.to_json(),
            "healing": {
                version: {region: heal.to_json() for region, heal in sorted(regions.items())}
                for version, regions in sorted(self.healing.items())
            },
        }
        if self.outbox:  # absent when empty: documents of images without events stay as they were
            out["outbox"] = [e.to_json() for e in self.outbox]
        # Only when there is something to keep: documents of images without gates stay as they were.
        if self.approvals:
            out["approvals"] = {k: v.to_json() for k, v in sorted(self.approvals.items())}
        if self.revocations:
            out["revocations"] = {k: v.to_json() for k, v in sorted(self.revocations.items())}
        if self.recheck_at is not None:
            out["recheck_at"] = iso(self.recheck_at)
        if self.warned:
            out["warned"] = dict(sorted(self.warned.items()))
        if self.gate_requests:
            out["gate_requests"] = [r.to_json() for r in self.gate_requests]
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> ImageState:
        if not data:
            return cls()
        return cls(
            replicating=frozenset(data.get("replicating") or ()),
            pending_builds={
                k: PendingBuild.from_json(v) for k, v in (data.get("pending_builds") or {}).items()
            },
            rebake=RebakeState.from_json(data.get("rebake") or {}),
            healing={
                str(version): {str(region): RegionHeal.from_json(heal) for region, heal in regions.items()}
                for version, regions in (data.get("healing") or {}).items()
                if isinstance(regions, Mapping)
            },
            outbox=tuple(OutboxEntry.from_json(e) for e in data.get("outbox") or ()),
            approvals={k: GateRecord.from_json(v) for k, v in (data.get("approvals") or {}).items()},
            revocations={k: GateRecord.from_json(v) for k, v in (data.get("revocations") or {}).items()},
            recheck_at=parse_time(data["recheck_at"]) if data.get("recheck_at") else None,
            warned={str(k): str(v) for k, v in (data.get("warned") or {}).items()},
            gate_requests=tuple(RequestedGate.from_json(r) for r in data.get("gate_requests") or ()),
        )
