"""The emulator's shared state: configuration, resources, long-running operations and received events.

One re-entrant lock guards everything; the server holds it for the whole of each request, so handlers
can read and write freely. `State.tick()` applies every clock-driven transition that is due (operations
finishing, deleted resources disappearing) before a request is handled.
"""

from __future__ import annotations

import itertools
import random
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from emulator.clock import VirtualClock
from emulator.errors import ArmError

TAG_NAME_FORBIDDEN = set("<>%&\\?/")
MAX_TAGS = 50
MAX_TAG_NAME = 512
MAX_TAG_VALUE = 256
MAX_OPERATIONS = 50_000


@dataclass
class Config:
    """Settings from the command line; `replication_seconds`, `delete_seconds` and `page_size` can change
    at runtime through `POST /_emulator/config`."""

    replication_seconds: float = 30.0
    # A region reads Replicating this long after the operation (and provisioningState) succeeded.
    replication_lag_seconds: float = 0.0
    delete_seconds: float = 0.0
    page_size: int = 50
    latency_ms: int = 0
    throttle: bool = False
    seed: int | None = None


@dataclass
class Resource:
    """A tracked ARM resource. Families subclass it for their own state; the body is rendered by them."""

    id: str
    name: str
    type: str
    location: str
    subscription: str
    resource_group: str
    properties: dict[str, Any]
    tags: dict[str, str] | None
    seq: int
    provisioning_state: str = "Succeeded"
    extra: dict[str, Any] = field(default_factory=dict)  # top-level passthrough: identity, zones, sku, ...

    @property
    def key(self) -> str:
        return self.id.lower()


@dataclass
class Operation:
    """A long-running operation; its status is a pure function of the virtual clock."""

    id: str
    subscription: str
    location: str
    provider: str
    collection: str  # "capsOperations" (galleries), "operations" (VMs, Image Builder)
    start: datetime
    finish_at: datetime
    outcome: str = "Succeeded"  # Succeeded | Failed | Canceled
    error: dict[str, Any] | None = None
    on_complete: Callable[[Operation], None] | None = None
    completed: bool = False
    # DiskRP's finished operations carry the resource as `properties.output` (see emulator/lro.py).
    output: Callable[[], dict[str, Any]] | None = None

    def done(self, now: datetime) -> bool:
        return self.completed or now >= self.finish_at


class State:
    """Everything the emulator remembers, behind `lock`."""

    def __init__(self, config: Config, clock: VirtualClock) -> None:
        self.config = config
        self.clock = clock
        self.lock = threading.RLock()
        self.rng = random.Random(config.seed)
        # Insertion-ordered: a replaced resource keeps its place, so iteration order is creation order.
        self.resources: dict[str, Resource] = {}
        self._children: dict[str, dict[str, Resource]] = {}
        self.operations: dict[str, Operation] = {}
        self.events: list[dict[str, Any]] = []
        # What authorized each POST to the topic (for tests: which credential reached the events endpoint).
        self.event_requests: list[dict[str, Any]] = []
        # A refusal the topic answers with (`POST /_emulator/topic`, see emulator.eventgrid.refusal).
        self.topic_refusal: dict[str, Any] | None = None
        # emulator.marketplace: (location, publisher, offer, sku) -> version -> entry.
        self.marketplace: dict[tuple[str, str, str, str], dict[str, Any]] = {}
        self._seq = itertools.count()
        self._pending: list[Operation] = []
        self.fail_next_lro: Callable[[], bool] = lambda: False
        self.fail_region: Callable[[], bool] = lambda: False
        # (version id lower-cased, region name) -> forced outcome of that region's replication, set through
        # `POST /_emulator/replication` (see emulator.galleries.replication.force_replication)
        self.replication_overrides: dict[tuple[str, str], dict[str, Any]] = {}
        # version id lower-cased -> the platform's validations and policy violations of that version, set
        # through `POST /_emulator/validation` (see emulator.galleries.validation)
        self.platform_signals: dict[str, dict[str, Any]] = {}

    # -- lifecycle -----------------------------------------------------------------------------------
    def reset(self) -> None:
        with self.lock:
            self.resources.clear()
            self._children.clear()
            self.operations.clear()
            self.events.clear()
            self.replication_overrides.clear()
            self.platform_signals.clear()
            self.event_requests.clear()
            self.topic_refusal = None
            self.marketplace.clear()
            self._pending.clear()
            self._seq = itertools.count()
            self.rng = random.Random(self.config.seed)
            self.clock.reset()

    def next_seq(self) -> int:
        return next(self._seq)

    def now(self) -> datetime:
        return self.clock.now()

    def tick(self, now: datetime | None = None) -> None:
        """Complete every operation whose time has come, in finishing order."""
        moment = now or self.now()
        due = sorted((op for op in self._pending if op.finish_at <= moment), key=lambda op: op.finish_at)
        for op in due:
            self._pending.remove(op)
            op.completed = True
            if op.on_complete is not None:
                op.on_complete(op)

    def add_operation(self, op: Operation) -> None:
        if len(self.operations) >= MAX_OPERATIONS:
            for key in [k for k, o in self.operations.items() if o.completed][: MAX_OPERATIONS // 10]:
                del self.operations[key]
        self.operations[op.id.lower()] = op
        self._pending.append(op)

    # -- resources -----------------------------------------------------------------------------------
    def get(self, resource_id: str) -> Resource | None:
        return self.resources.get(resource_id.lower())

    def put(self, resource: Resource) -> None:
        self.resources[resource.key] = resource
        self._children.setdefault(resource.key.rsplit("/", 2)[0], {})[resource.key] = resource

    def remove(self, resource_id: str) -> None:
        key = resource_id.lower()
        self.resources.pop(key, None)
        siblings = self._children.get(key.rsplit("/", 2)[0])
        if siblings is not None:
            siblings.pop(key, None)

    def children(self, parent_id: str, child_type: str) -> list[Resource]:
        """Direct children of `parent_id` whose type is `child_type`, in creation order."""
        siblings = self._children.get(parent_id.lower(), {})
        return [r for r in siblings.values() if r.type.lower() == child_type.lower()]

    def of_type(
        self, type_name: str, subscription: str, resource_group: str | None = None
    ) -> Iterator[Resource]:
        for r in list(self.resources.values()):
            if r.type.lower() != type_name.lower() or r.subscription.lower() != subscription.lower():
                continue
            if resource_group is not None and r.resource_group.lower() != resource_group.lower():
                continue
            yield r


def validate_tags(tags: Any) -> dict[str, str] | None:
    """ARM's tag rules: at most 50, names <= 512 chars without <>%&\\?/, values <= 256 chars."""
    if tags is None:
        return None
    if not isinstance(tags, dict):
        raise ArmError(
            400, "InvalidRequestContent", "The request content was invalid: 'tags' must be an object."
        )
    if len(tags) > MAX_TAGS:
        raise ArmError(
            400, "InvalidTag", f"The number of tags {len(tags)} exceeds the maximum of {MAX_TAGS}.", "tags"
        )
    for name, value in tags.items():
        if not isinstance(value, str):
            raise ArmError(400, "InvalidTag", f"The tag '{name}' has a value that is not a string.", "tags")
        if not name or len(name) > MAX_TAG_NAME:
            raise ArmError(
                400,
                "InvalidTag",
                f"The tag name '{name[:64]}' must be 1 to {MAX_TAG_NAME} characters long.",
                "tags",
            )
        bad = sorted(set(name) & TAG_NAME_FORBIDDEN)
        if bad:
            raise ArmError(
                400, "InvalidTag", f"The tag name '{name}' has invalid characters '{''.join(bad)}'.", "tags"
            )
        if len(value) > MAX_TAG_VALUE:
            raise ArmError(
                400,
                "InvalidTag",
                f"The tag value of '{name}' is {len(value)} characters long; the maximum is {MAX_TAG_VALUE}.",
                "tags",
            )
    return dict(tags)
