"""The in-use inventory: every VM, scale set and scale-set instance of one subscription whose image
reference may name a gallery image, as listed at one time. Pure data with its JSON form; the gateway
lists it (GalleryGateway.machines), the run keeps it in the state container once per sweep
(reconcile/inventory.py), planning reads it (planning/consumers.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any

from lifecycle.model import GalleryRef, iso, parse_time

VM = "vm"
SCALE_SET = "scale_set"
INSTANCE = "instance"
KINDS = (VM, SCALE_SET, INSTANCE)
# The keys of an image reference that can name a gallery image (and the version `latest` gave).
REFERENCE_KEYS = ("id", "sharedGalleryImageId", "communityGalleryImageId", "exactVersion")


@dataclass(frozen=True)
class GalleryNames:
    """Lower-cased shared (`identifier.uniqueName`) and community (public) names -> the gallery: how
    `sharedGalleryImageId` and `communityGalleryImageId` references are recognised as the policy's."""

    shared: Mapping[str, GalleryRef] = field(default_factory=dict)
    community: Mapping[str, GalleryRef] = field(default_factory=dict)


@dataclass(frozen=True)
class Machine:
    """One VM, scale set (its model) or Uniform scale-set instance.

    `tags` keeps only the tags the policy's `consumers` section names (owner and production tags); an
    instance carries its scale set's. `capacity` is a scale set's `sku.capacity`; `scale_set` is the scale
    set of an instance, or of a VM in a Flexible scale set (whose capacity already counts it as demand).
    """

    id: str
    kind: str
    subscription: str
    region: str
    reference: Mapping[str, str]
    tags: Mapping[str, str] = field(default_factory=dict)
    capacity: int | None = None
    scale_set: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "reference", MappingProxyType(dict(self.reference)))
        object.__setattr__(self, "tags", MappingProxyType(dict(self.tags)))

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "kind": self.kind,
            "subscription": self.subscription,
            "region": self.region,
            "reference": dict(self.reference),
        }
        if self.tags:
            body["tags"] = dict(self.tags)
        if self.capacity is not None:
            body["capacity"] = self.capacity
        if self.scale_set:
            body["scale_set"] = self.scale_set
        return body

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Machine:
        capacity = data.get("capacity")
        return cls(
            id=str(data["id"]),
            kind=str(data["kind"]),
            subscription=str(data["subscription"]),
            region=str(data.get("region") or ""),
            reference={str(k): str(v) for k, v in (data.get("reference") or {}).items() if v},
            tags={str(k): str(v) for k, v in (data.get("tags") or {}).items()},
            capacity=capacity if isinstance(capacity, int) else None,
            scale_set=str(data["scale_set"]) if data.get("scale_set") else None,
        )


@dataclass(frozen=True)
class SubscriptionInventory:
    """What one subscription's machines referenced at `at`."""

    subscription: str
    at: datetime
    machines: tuple[Machine, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "subscription": self.subscription,
            "at": iso(self.at),
            "machines": [m.to_json() for m in self.machines],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SubscriptionInventory:
        return cls(
            subscription=str(data["subscription"]).lower(),
            at=parse_time(str(data["at"])),
            machines=tuple(Machine.from_json(m) for m in data.get("machines") or ()),
        )


@dataclass(frozen=True)
class Inventory:
    """The inventories of every in-use subscription; `problem` says why it is incomplete (a subscription
    that could not be listed, or whose kept inventory is too old), and then nothing may be deleted."""

    subscriptions: tuple[SubscriptionInventory, ...] = ()
    problem: str | None = None
    # The problem is only that no inventory young enough was kept (a fan-out message of a late or failed
    # sweep): the next sweep lists again, so it is no error of this run; nothing is deleted meanwhile.
    waiting: bool = False

    @property
    def complete(self) -> bool:
        return self.problem is None

    @property
    def machines(self) -> tuple[Machine, ...]:
        return tuple(m for s in self.subscriptions for m in s.machines)

    @property
    def oldest(self) -> datetime | None:
        return min((s.at for s in self.subscriptions), default=None)
