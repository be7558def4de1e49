"""Fleet chaos: a gallery of several images lives through weeks of builds and retirements while the app runs
as Azure runs it: the timer's sweep fans out over a real queue to several queue workers, Event Grid delivers
write and build events (duplicated, out of order, redelivered when the function fails), operators edit
tags by hand meanwhile, and ARM injects faults. Everything goes through the app's indexed functions
(`tests/harness/host.py`), against the ARM emulator and Azurite.

Invariants, checked after every sweep interval and at the end of every seed:
- deletes per sweep within the cap: no more versions deleted in one sweep interval than
  `retention.max_deletes_per_run`, however many workers ran;
- no operator tag lost: every tag an operator set is still on its version (a held version is never deleted);
- no event lost for a write that took: every version the app deleted has its VersionDeleted, every version
  it tagged expired its VersionExpired, once the topic is reachable;
- no version deleted that an instance runs: a VM pinned to a version, and the instances of a scale set on
  `latest` (running the version that was latest when they got their model);
- ReplicationFailed after permanent refusals: a failed region whose heal ARM refuses for good (403
  LinkedAuthorizationFailed on a disk encryption set the app may not read) is announced once.

`make chaos` runs 8 seeds of 6 sweep intervals over 6 images; `make test` one seed of 3 intervals.
Invariants not held yet are listed in PENDING with why: they are checked and counted
(`pending violations` in the figures) but fail the test only with FLEET_INVARIANTS=all.
"""

from __future__ import annotations

import json
import os
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from lifecycle import tags as lt
from lifecycle.model import version_key
from lifecycle.policy_store import clear_cache
from tests.harness.builders import scale_set_body, vm_body
from tests.harness.host import FunctionsHost, Operator, VirtualTime, queue_client
from tests.integration.conftest import RG, SOURCE, Env
from tests.integration.test_function_app import load_app
from tests.reliability import figures
from tests.reliability.gallery import SUB, create_gallery, create_image, create_version, gallery_id
from tests.reliability.strategies import build_event, write_event

pytestmark = pytest.mark.integration
SUITE = "fleet"
GALLERY = "fleet"
CAP = 2  # retention.max_deletes_per_run
LIFETIME, GRACE, KEEP = 5, 2, 1
STEP = timedelta(days=5)  # one sweep interval of the simulation
START = datetime(2027, 3, 1, tzinfo=UTC)
BUILDS = f"/subscriptions/{SUB}/resourceGroups/rg-ci/providers/Microsoft.EventGrid/topics/image-builds"
KEYS = f"/subscriptions/{SUB}/resourceGroups/rg-keys"
DES = f"{KEYS}/providers/Microsoft.Compute/diskEncryptionSets/west"
REFUSED_IMAGE, REFUSED_VERSION = "refused", "0.9.0"  # a failed region whose heal ARM refuses for good
FAULTS = "500=0.03,503=0.03,reset=0.02"

DELETES_WITHIN_CAP = "deletes per sweep within the cap"
NO_TAG_LOST = "no operator tag lost"
NO_EVENT_LOST = "no event lost for a write that took"
NOT_IN_USE = "no version deleted that an instance runs"
GIVES_UP = "ReplicationFailed after permanent refusals"
# Invariants whose behaviour is not built yet (issue 18), and why.
PENDING: dict[str, str] = {}


def images() -> list[str]:
    return [f"img{i}" for i in range(figures.scale(3, 6))]


def policy() -> str:
    # The refused image lives long: an expired version is not healed, so its heal must be tried (and refused)
    # before it expires for the give-up to be reached.
    refused = {
        "replication": {"regions": {"eastus": 1, "westeurope": 1}},
        "retention": {"lifetime_days": 365, "keep_latest": KEEP, "delete_after_days": GRACE},
    }
    return json.dumps(
        {
            "schema": 1,
            "defaults": {
                "replication": {"regions": {"eastus": 1}},
                "retention": {
                    "lifetime_days": LIFETIME,
                    "keep_latest": KEEP,
                    "delete_after_days": GRACE,
                    "max_deletes_per_run": CAP,
                },
            },
            "galleries": [
                {
                    "id": gallery_id(GALLERY),
                    "build_sources": [BUILDS],
                    "images": {"*": {}, REFUSED_IMAGE: refused},
                }
            ],
        }
    )


def vid(image: str, name: str) -> str:
    return f"{gallery_id(GALLERY)}/images/{image}/versions/{name}"


@dataclass
class World:
    """What the test knows on its own: versions published, consumers, operators' edits, violations."""

    published: dict[tuple[str, str], datetime] = field(default_factory=dict)
    next_patch: dict[str, int] = field(default_factory=dict)
    in_use: dict[tuple[str, str], str] = field(default_factory=dict)  # version -> who runs it
    deleted: dict[tuple[str, str], int] = field(default_factory=dict)  # version -> interval it went in
    failures: list[tuple[str, str]] = field(default_factory=list)  # (invariant, what)

    def check(self, invariant: str, ok: bool, what: str) -> None:
        figures.add(SUITE, checks=1, violations=0 if ok or invariant in PENDING else 1)
        if not ok:
            if invariant in PENDING:
                figures.add(SUITE, **{f"pending violations: {invariant}": 1})
            self.failures.append((invariant, what))


def observe(env: Env, names: list[str]) -> dict[tuple[str, str], dict[str, Any]]:
    """Every version as ARM has it, read by an administrator while no fault is injected."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    operations = env.compute.gallery_image_versions
    for image in names:
        for listed in operations.list_by_gallery_image(RG, GALLERY, image):
            body = listed.as_dict()
            properties = body.get("properties") or {}
            out[(image, body["name"])] = {
                "state": properties.get("provisioningState"),
                "excluded": bool((properties.get("publishingProfile") or {}).get("excludeFromLatest")),
                "tags": dict(body.get("tags") or {}),
            }
    return out


def gone(seen: dict[tuple[str, str], dict[str, Any]], key: tuple[str, str]) -> bool:
    return key not in seen or seen[key]["state"] == "Deleting"


def publish(env: Env, world: World, image: str, at: datetime) -> list[dict[str, Any]]:
    """A new build: the version (as the pipeline creates it) and the events Event Grid will deliver."""
    patch = world.next_patch.get(image, 0)
    world.next_patch[image] = patch + 1
    name = f"1.0.{patch}"
    create_version(env, GALLERY, image, name)
    world.published[(image, name)] = at
    version = vid(image, name)
    return [
        write_event("eventgrid", version, event_id=f"write-{image}-{name}"),
        {
            **build_event("eventgrid", version, event_id=f"build-{image}-{name}", buildId=f"{image}.{patch}"),
            "topic": BUILDS,
        },
    ]


def refused_heal(env: Env) -> None:
    """A version whose westeurope replica failed, encrypted with a set the app may not read: a heal write
    that names the set (adding the region back) is refused by ARM's linked check (403
    LinkedAuthorizationFailed), for good."""
    create_image(env, GALLERY, REFUSED_IMAGE)
    version = vid(REFUSED_IMAGE, REFUSED_VERSION)
    # Only removing the region and adding it back would cure it (any other update of the version, its
    # end-of-life say, retries the region and fails again); adding it back names the set: refused.
    env.emulator.control(
        "POST",
        "replication",
        {"version_id": version, "region": "westeurope", "outcome": "Failed", "heals_by": "readd"},
    )
    body = {
        "location": "eastus",
        "properties": {
            "publishingProfile": {
                "targetRegions": [
                    {"name": "eastus", "regionalReplicaCount": 1},
                    {
                        "name": "westeurope",
                        "regionalReplicaCount": 1,
                        "encryption": {"osDiskImage": {"diskEncryptionSetId": DES}},
                    },
                ]
            },
            "storageProfile": {"osDiskImage": {"source": {"id": SOURCE}}},
        },
    }
    env.compute.gallery_image_versions.begin_create_or_update(
        RG, GALLERY, REFUSED_IMAGE, REFUSED_VERSION, body, polling=False
    )


def pin_vm(env: Env, world: World, image: str, name: str) -> None:
    env.compute.virtual_machines.begin_create_or_update(
        RG, f"pinned-{image}", vm_body(vid(image, name))
    ).result()
    world.in_use[(image, name)] = f"VM pinned-{image}"


def scale_set_on_latest(
    env: Env, world: World, image: str, seen: dict[tuple[str, str], dict[str, Any]]
) -> None:
    """Instances take the version `latest` means when they get their model: the newest version not
    excluded from latest (the harness works it out itself, from what ARM shows)."""
    candidates = [
        n for (i, n), s in seen.items() if i == image and not s["excluded"] and s["state"] == "Succeeded"
    ]
    if not candidates:
        return
    latest = max(candidates, key=version_key)
    body = scale_set_body(f"{gallery_id(GALLERY)}/images/{image}")
    env.compute.virtual_machine_scale_sets.begin_create_or_update(RG, f"ss-{image}", body).result()
    world.in_use[(image, latest)] = f"scale set ss-{image} on latest"


def operate(
    operator: Operator, rng: random.Random, seen: dict[tuple[str, str], dict[str, Any]], edits: int
) -> None:
    """An operator holds some versions and notes others, at random moments of the interval."""
    import time

    keys = sorted(k for k, s in seen.items() if s["state"] not in ("Deleting", "Failed"))
    for n in range(edits):
        if not keys:
            return
        time.sleep(rng.uniform(0.0, 0.6))
        image, name = rng.choice(keys)
        tag, value = (lt.HOLD, "true") if rng.random() < 0.5 else ("ops-note", f"checked-{n}")
        operator.set_tag(GALLERY, image, name, tag, value, vid(image, name))


def fault_spec(env: Env) -> str:
    """FAULTS, plus `applied-500` (a write that took effect answered 500, issue 18 point 3) where the
    emulator has that fault: it is what makes "no event lost for a write that took" bite."""
    try:
        env.emulator.control("POST", "faults", {"spec": "applied-500=0"})
    except Exception:  # an emulator without it refuses the spec (400)
        return FAULTS
    return f"{FAULTS},applied-500=0.03"


def faults(env: Env, spec: str, seed: int | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"spec": spec}
    if seed is not None:
        body["seed"] = seed
    return dict(env.emulator.control("POST", "faults", body))


@pytest.fixture()
def fleet(env: Env, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Env, VirtualTime]]:
    monkeypatch.setenv("LIFECYCLE_LEASE_SECONDS", "15")
    monkeypatch.setenv("LIFECYCLE_QUEUE_MAX_DEQUEUE", "5")
    clock = VirtualTime(env.emulator)
    clock.install(monkeypatch)
    yield env, clock


def run_seed(env: Env, clock: VirtualTime, seed: int, rounds: int, monkeypatch: pytest.MonkeyPatch) -> World:
    rng = random.Random(seed)
    world = World()
    names = images()
    env.emulator.reset()
    queue_name = f"fleet-{seed}-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("LIFECYCLE_FANOUT_QUEUE", queue_name)
    monkeypatch.setenv(
        "LIFECYCLE_STATE_URL", f"{env.azurite.blob_endpoint}/fleet-{seed}-{uuid.uuid4().hex[:8]}"
    )
    clear_cache()
    queue = queue_client(env.azurite.connection_string, queue_name)
    queue.create_queue()
    poison = queue_client(env.azurite.connection_string, f"{queue_name}-poison")
    poison.create_queue()
    host = FunctionsHost.for_app(load_app(monkeypatch, None), queue, poison, queue_workers=4, max_dequeue=5)
    operator = Operator(env.compute, RG, clock)

    spec = fault_spec(env)
    figures.peak(SUITE, "applied-500 injected (1: yes)", int("applied-500" in spec))
    at = START
    env.put_policy(policy())
    create_gallery(env, GALLERY)
    # A history: three versions of each image published a month ago, all but the newest due for deletion
    # once the app has written their end-of-life: more than one sweep's allowance at once.
    clock.set(at - timedelta(days=30))
    for image in names:
        create_image(env, GALLERY, image)
        for _ in range(3):
            publish(env, world, image, at - timedelta(days=30))
    clock.set(at)
    refused_heal(env)
    all_images = [*names, REFUSED_IMAGE]
    clock.set(at + timedelta(minutes=5))
    pin_vm(env, world, names[0], "1.0.0")
    seen = observe(env, all_images)

    for interval in range(rounds + 2):
        recovery = interval >= rounds  # the last two intervals: ARM healthy, no builds, no operators
        at += STEP
        clock.set(at)
        events: list[dict[str, Any]] = []
        if not recovery:
            for image in names:
                if rng.random() < 0.7:
                    events += publish(env, world, image, at)
            clock.set(at + timedelta(minutes=2))  # the new versions finish creating
        before = observe(env, all_images)
        if interval == 1 and len(names) > 1:
            scale_set_on_latest(env, world, names[1], before)
        if not recovery:
            faults(env, spec, seed=seed * 100 + interval)

        def sweep_and_queue() -> None:
            host.fire_timer()
            host.drain_queue()

        def deliver(events: list[dict[str, Any]] = events) -> None:
            host.deliver_events(events, rng)

        def edit(seen_then: dict[tuple[str, str], dict[str, Any]] = before) -> None:
            operate(operator, rng, seen_then, edits=4)

        work = [sweep_and_queue, deliver]
        if not recovery:
            work.append(edit)
        FunctionsHost.together(*work)
        host.drain_queue()  # what the event runs enqueued after the workers went idle
        injected = faults(env, "")["injected"]
        figures.add(SUITE, intervals=1, faults=sum(injected.values()))
        after = observe(env, all_images)
        check_interval(world, interval, operator, before, after)
        seen = after
    check_end(env, world, operator, seen)
    figures.add(
        SUITE,
        **{
            "timer runs": host.counts["timer"],
            "queue dequeues": host.counts["dequeues"],
            "queue retries": host.counts["message_failures"],
            "poison messages": host.counts["poisoned"],
            "event deliveries": host.counts["deliveries"],
            "event redeliveries": host.counts["redeliveries"],
            "operator tag edits": len(operator.writes),
        },
    )
    assert not host.errors, host.errors[:5]
    return world


def check_interval(
    world: World,
    interval: int,
    operator: Operator,
    before: dict[tuple[str, str], dict[str, Any]],
    after: dict[tuple[str, str], dict[str, Any]],
) -> None:
    deleted = [k for k in before if not gone(before, k) and gone(after, k)]
    for key in deleted:
        world.deleted[key] = interval
    figures.add(SUITE, **{"versions deleted": len(deleted)})
    figures.peak(SUITE, "most deletes in one sweep interval", len(deleted))
    world.check(
        DELETES_WITHIN_CAP, len(deleted) <= CAP, f"interval {interval}: {len(deleted)} deleted > {CAP}"
    )
    for key in deleted:
        world.check(
            NOT_IN_USE, key not in world.in_use, f"{key} deleted while {world.in_use.get(key)} runs it"
        )
        held = [w for w in operator.writes if w.tag == lt.HOLD and w.version_id == vid(*key)]
        held_before = key in before and before[key]["tags"].get(lt.HOLD) == "true"
        world.check(
            NO_TAG_LOST, not held_before, f"{key} deleted although held since {held[0].at if held else '?'}"
        )


def check_end(
    env: Env, world: World, operator: Operator, seen: dict[tuple[str, str], dict[str, Any]]
) -> None:
    # What each tag should read in the end: the operator's last write of it (an earlier value the operator
    # itself replaced is not lost).
    last = {(w.version_id.lower(), w.tag.lower()): w for w in operator.writes}
    for write in last.values():
        image, name = write.version_id.split("/images/")[1].split("/versions/")
        key = (image, name)
        if gone(seen, key):
            continue
        kept = seen[key]["tags"].get(write.tag)
        world.check(
            NO_TAG_LOST, kept == write.value, f"{key}: operator's {write.tag}={write.value} lost ({kept!r})"
        )
    received = env.emulator.events()
    by_type: dict[str, set[str]] = {}
    for event in received:
        by_type.setdefault(str(event.get("type")), set()).add(str(event.get("subject")).lower())
    for key in world.deleted:
        world.check(
            NO_EVENT_LOST,
            vid(*key).lower() in by_type.get("ImageLifecycle.VersionDeleted", set()),
            f"{key} deleted without VersionDeleted",
        )
    for key, state in seen.items():
        if state["tags"].get(lt.STATE) == lt.STATE_EXPIRED:
            world.check(
                NO_EVENT_LOST,
                vid(*key).lower() in by_type.get("ImageLifecycle.VersionExpired", set()),
                f"{key} tagged expired without VersionExpired",
            )
    refused = vid(REFUSED_IMAGE, REFUSED_VERSION).lower()
    announced = [
        e
        for e in received
        if e.get("type") == "ImageLifecycle.ReplicationFailed" and str(e.get("subject")).lower() == refused
    ]
    world.check(
        GIVES_UP,
        len({e.get("id") for e in announced}) == 1,
        f"ReplicationFailed for {refused}: {len(announced)}",
    )


def test_fleet(fleet: tuple[Env, VirtualTime], monkeypatch: pytest.MonkeyPatch) -> None:
    env, clock = fleet
    strict = os.environ.get("FLEET_INVARIANTS") == "all"
    seeds = range(1, 1 + figures.scale(1, 8))
    rounds = figures.scale(3, 6)
    failures: list[str] = []
    pending: dict[str, int] = {}
    for seed in seeds:
        world = run_seed(env, clock, seed, rounds, monkeypatch)
        figures.add(SUITE, inputs=1)
        for invariant, what in world.failures:
            if invariant in PENDING and not strict:
                pending[invariant] = pending.get(invariant, 0) + 1
                continue
            failures.append(f"seed {seed}: {invariant}: {what}")
    for invariant, count in sorted(pending.items()):
        # Not a silent skip: the figures name each pending invariant and how often it was broken.
        print(f"pending invariant broken {count} time(s): {invariant} ({PENDING[invariant]})")
    assert not failures, failures[:20]
