"""Chaos: seeds of injected faults (429, 5xx, dropped connections, failed operations, regional replication
failures) while a gallery lives through weeks of publishing and retiring, an `apply` process killed mid-run
in each seed, then repeated runs with ARM healthy again.

Invariants, checked after every run (faults paused while the test reads):
- no version is deleted before its end-of-life + grace;
- the newest `keep_latest` healthy versions are always kept;
after the recovery runs:
- every version that is not expired has exactly the policy's regions, each Completed, unless healing gave
  up on it (a retry, a removal and a re-add all failed) and said so with ImageLifecycle.ReplicationFailed
  for each unfinished region;
- every deletion that is due has happened.

`make chaos` runs 50 seeds; `make test` a few. Each run is `python -m lifecycle apply --at <virtual now>`,
in process (the CLI's main) or, once per seed, as a real subprocess killed after a seeded delay.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from lifecycle.cli import main as cli_main
from lifecycle.model import version_key
from lifecycle.policy_store import clear_cache
from tests.integration.conftest import RG, Env
from tests.reliability import figures
from tests.reliability.gallery import create_gallery, create_image, create_version, gallery_id

pytestmark = pytest.mark.integration
SUITE = "chaos"
GALLERY = "chaos"
IMAGES = ("app", "base")
REGIONS = {"eastus": 1, "westeurope": 1, "japaneast": 1}
REGION_NAMES = {"East US", "West Europe", "Japan East"}
REGION_DISPLAY = {"eastus": "East US", "westeurope": "West Europe", "japaneast": "Japan East"}
REMOVE_READD_AFTER = 2  # the policy's default (replication.remove_readd_after)
LIFETIME, GRACE, KEEP = 20, 10, 2
FAULTS = "429=0.03,500=0.08,503=0.08,reset=0.08,lro-fail=0.1,region-fail=0.15"
START = datetime(2027, 3, 1, tzinfo=UTC)


def policy() -> str:
    return json.dumps(
        {
            "schema": 1,
            "defaults": {
                "replication": {"regions": REGIONS},
                "retention": {
                    "lifetime_days": LIFETIME,
                    "keep_latest": KEEP,
                    "delete_after_days": GRACE,
                    "max_deletes_per_run": 3,
                },
            },
            "galleries": [{"id": gallery_id(GALLERY)}],
        }
    )


@dataclass
class World:
    """What the test knows independently of the product: when each version was published."""

    published: dict[tuple[str, str], datetime] = field(default_factory=dict)
    next_patch: dict[str, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)


def faults(env: Env, spec: str, seed: int | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"spec": spec}
    if seed is not None:
        body["seed"] = seed
    return dict(env.emulator.control("POST", "faults", body))


def observe(env: Env) -> dict[tuple[str, str], dict[str, Any]]:
    """Every version's state, read with an administrator's client while no fault is injected."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    operations = env.compute.gallery_image_versions
    for image in IMAGES:
        for listed in operations.list_by_gallery_image(RG, GALLERY, image):
            body = operations.get(RG, GALLERY, image, listed.name, expand="ReplicationStatus").as_dict()
            properties = body.get("properties") or {}
            profile = properties.get("publishingProfile") or {}
            summary = (properties.get("replicationStatus") or {}).get("summary") or []
            out[(image, body["name"])] = {
                "state": properties.get("provisioningState"),
                "regions": {r["name"] for r in profile.get("targetRegions") or []},
                "completed": {s["region"] for s in summary if s.get("state") == "Completed"},
                "tags": body.get("tags") or {},
            }
    return out


def apply_in_process(env: Env, at: datetime) -> dict[str, Any]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        code = cli_main(["apply", "--config", env.config_url, "--at", at.isoformat(), "--json"])
    report = json.loads(out.getvalue()) if out.getvalue().strip() else {}
    report["exit"] = code
    return report


def apply_killed(env: Env, at: datetime, delay: float) -> bool:
    """A real `python -m lifecycle apply`, killed (SIGKILL) after `delay` seconds; True if it was still
    running then."""
    process = subprocess.Popen(
        [sys.executable, "-m", "lifecycle", "apply", "--config", env.config_url, "--at", at.isoformat()],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=dict(os.environ),
    )
    try:
        process.wait(timeout=delay)
        return False
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGKILL)
        process.wait()
        return True


def due(world: World, key: tuple[str, str]) -> datetime:
    return world.published[key] + timedelta(days=LIFETIME + GRACE)


def newest_healthy(seen: dict[tuple[str, str], dict[str, Any]], image: str) -> list[str]:
    names = [v for (i, v), s in seen.items() if i == image and s["state"] not in ("Failed",)]
    return sorted(names, key=version_key, reverse=True)[:KEEP]


def check_run(
    env: Env, world: World, before: dict[tuple[str, str], dict[str, Any]], at: datetime
) -> dict[tuple[str, str], dict[str, Any]]:
    after = observe(env)
    for key in before:
        gone = key not in after or after[key]["state"] == "Deleting"
        if gone:
            figures.check(
                SUITE, at >= due(world, key), f"{key} deleted at {at}, due {due(world, key)}", world.failures
            )
            figures.add(SUITE, **{"versions deleted": 1})
    for image in IMAGES:
        for name in newest_healthy(before, image):
            figures.check(
                SUITE,
                (image, name) in after and after[(image, name)]["state"] != "Deleting",
                f"{image} {name}, one of the newest {KEEP}, was deleted at {at}",
                world.failures,
            )
    return after


def given_up(env: Env) -> dict[tuple[str, str], dict[str, int]]:
    """Versions the app stopped healing, from the ReplicationFailed events it published: (image, version)
    -> region (as `observe` names it) -> the failures counted when it gave up."""
    out: dict[tuple[str, str], dict[str, int]] = {}
    for event in env.emulator.events():
        if event.get("type") != "ImageLifecycle.ReplicationFailed":
            continue
        parts = str(event.get("subject", "")).split("/")
        data = event.get("data") or {}
        region = REGION_DISPLAY.get(str(data.get("region")), "*")
        out.setdefault((parts[-3], parts[-1]), {})[region] = int(data.get("failures") or 0)
    return out


def check_converged(env: Env, world: World, at: datetime) -> None:
    seen = observe(env)
    announced = given_up(env)
    for key, state in seen.items():
        if state["tags"].get("lifecycle.state") == "expired" or state["state"] == "Deleting":
            continue
        stuck = state["regions"] - state["completed"]
        if state["state"] == "Failed" and key in announced:
            # Healing gives up after a retry, a removal and a re-add all failed (README, "Replication
            # healing"): at 15% regional failures that happens now and then. Allowed only when announced,
            # for every region left unfinished, after the documented number of failures.
            regions = announced[key]
            figures.add(SUITE, **{"versions given up (ReplicationFailed published)": 1})
            figures.check(
                SUITE,
                all(r in regions and regions[r] >= REMOVE_READD_AFTER for r in stuck) or "*" in regions,
                f"{key} gave up on {stuck} but announced {regions}",
                world.failures,
            )
            continue
        figures.check(
            SUITE,
            state["regions"] == REGION_NAMES and state["completed"] == REGION_NAMES,
            f"{key} did not converge: {state}",
            world.failures,
        )
    for key in world.published:
        image, name = key
        if at >= due(world, key) + timedelta(days=1) and name not in newest_healthy(seen, image):
            figures.check(
                SUITE, key not in seen, f"{key} was due {due(world, key)} and is still there", world.failures
            )


def publish(env: Env, world: World, image: str, at: datetime) -> None:
    patch = world.next_patch.get(image, 0)
    world.next_patch[image] = patch + 1
    name = f"1.0.{patch}"
    create_version(env, GALLERY, image, name)
    world.published[(image, name)] = at


def run_seed(env: Env, seed: int, rounds: int) -> World:
    rng = random.Random(seed)
    world = World()
    env.emulator.set_time(START)
    at = START
    for image in IMAGES:
        publish(env, world, image, at)
    kill_round = rng.randrange(1, rounds)
    seen = observe(env)
    for round_ in range(rounds):
        at += timedelta(days=rng.choice([5, 7, 10]))
        env.emulator.set_time(at)
        for image in IMAGES:
            if rng.random() < 0.6:
                publish(env, world, image, at)
        seen = observe(env)
        faults(env, FAULTS, seed=seed * 1000 + round_)
        if round_ == kill_round:
            env.emulator.control("POST", "config", {"latency_ms": 40})  # so the kill lands mid-run
            killed = apply_killed(env, at, delay=rng.uniform(1.5, 4.0))
            env.emulator.control("POST", "config", {"latency_ms": 0})
            figures.add(SUITE, **{"apply processes killed mid-run": int(killed)})
        else:
            apply_in_process(env, at)
        injected = faults(env, "")["injected"]
        figures.add(SUITE, runs=1, faults=sum(injected.values()))
        seen = check_run(env, world, seen, at)
    # Recovery: ARM healthy again; runs spaced so replication finishes and back-offs pass.
    for _ in range(8):
        at += timedelta(hours=12)
        env.emulator.set_time(at)
        before = observe(env)
        report = apply_in_process(env, at)
        figures.add(SUITE, runs=1)
        check_run(env, world, before, at)
        if any("lease held" in s for s in report.get("skipped", [])):
            time.sleep(5)  # the killed run's lease lapses by itself (LIFECYCLE_LEASE_SECONDS)
    env.emulator.set_time(at + timedelta(hours=1))
    check_converged(env, world, at)
    return world


def test_chaos(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIFECYCLE_LEASE_SECONDS", "15")  # the shortest blob lease: a killed run's lapses soon
    seeds = range(1, 1 + figures.scale(2, 50))
    rounds = figures.scale(5, 8)
    env.put_policy(policy())
    failures: list[str] = []
    for seed in seeds:
        env.emulator.reset()
        # A fresh state container per seed: each seed is a new deployment (the killed run's lease and
        # the image memory of the seed before stay behind).
        monkeypatch.setenv(
            "LIFECYCLE_STATE_URL", f"{env.azurite.blob_endpoint}/chaos-{seed}-{uuid.uuid4().hex[:8]}"
        )
        clear_cache()
        env.put_policy(policy())
        create_gallery(env, GALLERY)
        for image in IMAGES:
            create_image(env, GALLERY, image)
        world = run_seed(env, seed, rounds)
        figures.add(SUITE, inputs=1)
        failures += [f"seed {seed}: {f}" for f in world.failures]
    assert not failures, failures[:20]
