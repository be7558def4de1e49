"""A fleet-wide edit on the ARM emulator with 100 ms latency and throttling on (ARM's buckets and Compute's
per-operation policies): a region added to every version of several subscriptions.

Prints, per sweep (every 15 virtual minutes): writes, 429s, deferred and failed actions, wall time against
the time ARM's write buckets allow for those writes; then sweeps to converge against the bound Compute's
policies allow, the replication of a version published during the change, and peak memory. Then the same
edit at 10,000 versions in one subscription (the first sweeps, with the projection of the rest).

BENCH_SUBS, BENCH_IMAGES, BENCH_VERSIONS size the first part; BENCH_BIG_VERSIONS the second (0 skips it).
"""

from __future__ import annotations

import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from emulator.launcher import start_emulator
from tests.harness.builders import gallery_image_body

SUBS = int(os.environ.get("BENCH_SUBS", 4))
IMAGES = int(os.environ.get("BENCH_IMAGES", 5))
VERSIONS = int(os.environ.get("BENCH_VERSIONS", 100))
BIG = int(os.environ.get("BENCH_BIG_VERSIONS", 10000))
BIG_SWEEPS = int(os.environ.get("BENCH_BIG_SWEEPS", 2))
RG, GALLERY = "rg-fleet", "fleet"
SWEEP = timedelta(minutes=15)
# Compute's CreateUpdateGalleryImageVersion policy (PRODUCT.md section 2) and ARM's write bucket.
SHORT_LIMIT, LONG_LIMIT = 375, 1200
ARM_BURST, ARM_RATE = 200, 10.0


# One timer sweep in a fresh process: reconcile, then its summary and the process's peak memory.
SWEEP_PROCESS = """
import json, resource, sys
from datetime import datetime
from lifecycle.reconcile import Trigger, reconcile
report = reconcile(Trigger("sweep"), at=datetime.fromisoformat(sys.argv[1]))
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"summary": report.summary(), "peak_mb": peak}))
"""


def sub_id(i: int) -> str:
    return f"00000000-0000-0000-0000-{i + 1:012d}"


def gallery_id(sub: str) -> str:
    return f"/subscriptions/{sub}/resourceGroups/{RG}/providers/Microsoft.Compute/galleries/{GALLERY}"


def version_body(sub: str, published: datetime) -> dict[str, Any]:
    return {
        "location": "eastus",
        "tags": {"lifecycle.state": "active"},
        "properties": {
            "publishingProfile": {
                "targetRegions": [{"name": "eastus", "regionalReplicaCount": 1}],
                "endOfLifeDate": (published + timedelta(days=365)).isoformat(),
            },
            "safetyProfile": {"blockDeletionBeforeEndOfLife": False},
            "storageProfile": {"osDiskImage": {"source": {"id": f"{gallery_id(sub)}/snap"}}},
        },
    }


def build(emulator: Any, subs: list[str], images: int, versions: int, start: datetime) -> None:
    for sub in subs:
        compute = emulator.compute(sub)
        compute.galleries.begin_create_or_update(RG, GALLERY, {"location": "eastus"}).result()
        for i in range(images):
            image = f"image-{i:02d}"
            body = gallery_image_body(image)
            compute.gallery_images.begin_create_or_update(RG, GALLERY, image, body).result()
            # Eight at a time: building the fleet is not what is measured.
            with ThreadPoolExecutor(max_workers=8) as pool:
                list(
                    pool.map(
                        lambda v, image=image, compute=compute, sub=sub: (
                            compute.gallery_image_versions.begin_create_or_update(
                                RG,
                                GALLERY,
                                image,
                                f"1.{v // 1000}.{v % 1000}",
                                version_body(sub, start),
                                polling=False,
                            )
                        ),
                        range(versions),
                    )
                )


def policy(subs: list[str], regions: dict[str, int]) -> dict[str, Any]:
    return {
        "schema": 1,
        "defaults": {"replication": {"regions": regions}, "retention": {"keep_latest": 3}},
        "galleries": [{"id": gallery_id(s), "images": {"*": {}}} for s in subs],
    }


def setup(emulator: Any, subs: list[str], images: int, versions: int) -> tuple[Path, datetime]:
    """Build without latency or throttling, then let every window empty and switch both on."""
    emulator.control("POST", "config", {"latency_ms": 0, "throttle": False, "replication_seconds": 60})
    start = emulator.now() - timedelta(days=10)
    emulator.set_time(start)
    build(emulator, subs, images, versions, start)
    now = start + timedelta(days=10)
    emulator.set_time(now)
    time.sleep(ARM_BURST / ARM_RATE + 1)  # ARM's buckets refill on real time: start the edit with them full
    emulator.control("POST", "config", {"latency_ms": 100, "throttle": True})
    workdir = Path(tempfile.mkdtemp(prefix="lifecycle-fleet-"))
    os.environ.update(
        {
            "LIFECYCLE_CONFIG_URL": str(workdir / "policy.json"),
            "LIFECYCLE_STATE_URL": str(workdir / "state"),
            "LIFECYCLE_ARM_ENDPOINT": emulator.endpoint,
            "LIFECYCLE_ARM_CA_BUNDLE": emulator.ca_bundle,
            "LIFECYCLE_ARM_TOKEN": "bench",
        }
    )
    return workdir, now


def sweep(emulator: Any, at: datetime) -> dict[str, Any]:
    from lifecycle.reconcile import Trigger, reconcile

    before = emulator.stats()
    t0 = time.perf_counter()
    report = reconcile(Trigger("sweep"), at=at)
    seconds = time.perf_counter() - t0
    after = emulator.stats()
    writes_by_sub: dict[str, int] = {}
    for outcome in report.outcomes:
        if outcome.status == "succeeded":
            sub = outcome.action.target.split("/")[2]
            writes_by_sub[sub] = writes_by_sub.get(sub, 0) + 1
    summary = report.summary()
    # ARM's bound for the writes admitted: 200 at once, then 10/s, per subscription, side by side.
    arm_bound = max((max(0, n - ARM_BURST) / ARM_RATE for n in writes_by_sub.values()), default=0.0)
    return {
        "seconds": seconds,
        "writes": after["by_method"]["PATCH"] - before["by_method"]["PATCH"],
        "throttled": after["throttled"] - before["throttled"],
        "deferred": summary["deferred"],
        "failed": summary["failed"],
        "actions": summary["actions"],
        "arm_bound": arm_bound,
        "max_writes_per_sub": max(writes_by_sub.values(), default=0),
        "paced": report.budget.get("paced_seconds", 0.0),
        "gets": after["by_method"].get("GET", 0) - before["by_method"].get("GET", 0),
        "report": report,
    }


def compute_bound(writes_per_sub: int) -> int:
    """Sweeps (15 minutes apart) Compute's windows force: at most 375 writes per sweep (a 3-minute window
    each time), at most 1,200 in any 30 minutes (two sweeps)."""
    sweeps, done, history = 0, 0, []
    while done < writes_per_sub:
        in_30 = sum(history[-1:])  # the previous sweep is within 30 minutes of this one
        allowed = min(SHORT_LIMIT, LONG_LIMIT - in_30, writes_per_sub - done)
        history.append(allowed)
        done += allowed
        sweeps += 1
    return sweeps


def part_one(emulator: Any) -> None:
    subs = [sub_id(i) for i in range(SUBS)]
    workdir, now = setup(emulator, subs, IMAGES, VERSIONS)
    total = SUBS * IMAGES * VERSIONS
    (workdir / "policy.json").write_text(json.dumps(policy(subs, {"eastus": 1})))
    first = sweep(emulator, now)  # converged already: the steady state
    steady_calls = first["report"].summary()["actions"]
    (workdir / "policy.json").write_text(json.dumps(policy(subs, {"eastus": 1, "westeurope": 1})))
    print(
        f"fleet-wide edit: a region added to {total} versions ({SUBS} subscriptions x {IMAGES} images x "
        f"{VERSIONS} versions), 100 ms latency, throttling on; sweeps every 15 minutes"
    )
    print(f"steady state before the edit: {steady_calls} actions")
    rows, published, replicated_by = [], None, None
    for n in range(1, 30):
        now += SWEEP
        emulator.set_time(now)
        figures = sweep(emulator, now)
        rows.append(figures)
        ratio = figures["seconds"] / figures["arm_bound"] if figures["arm_bound"] >= 1 else float("nan")
        print(
            f"  sweep {n:2d}: {figures['writes']:5d} writes "
            f"({figures['max_writes_per_sub']} max per subscription), "
            f"{figures['throttled']} 429s, {figures['deferred']} deferred, {figures['failed']} failed; "
            f"{figures['seconds']:.1f} s (ARM's bound {figures['arm_bound']:.1f} s, x{ratio:.2f}); "
            f"{figures['gets']} reads; writes waited {figures['paced']:.0f} s in all for ARM's bucket"
        )
        if n == 1:
            # A new build during the change: published now, unreplicated to westeurope.
            compute = emulator.compute(subs[0])
            body = version_body(subs[0], now)
            body.pop("tags")
            compute.gallery_image_versions.begin_create_or_update(
                RG, GALLERY, "image-00", "9.0.0", body, polling=False
            )
            published = n
        if published and replicated_by is None and n > published:
            # Replication itself takes a minute on the emulator: look two minutes after the sweep.
            emulator.set_time(now + timedelta(minutes=2))
            v = emulator.compute(subs[0]).gallery_image_versions.get(
                RG, GALLERY, "image-00", "9.0.0", expand="ReplicationStatus"
            )
            states = {s["region"]: s["state"] for s in v["properties"]["replicationStatus"]["summary"]}
            if len(states) == 2 and set(states.values()) == {"Completed"}:
                replicated_by = n
        if figures["actions"] == 0:
            break
    writes = sum(r["writes"] for r in rows)
    throttled = sum(r["throttled"] for r in rows)
    with_writes = sum(1 for r in rows if r["writes"])
    bound = compute_bound(IMAGES * VERSIONS)
    print(
        f"converged after {len(rows)} sweeps ({with_writes} with writes; Compute's policies allow no "
        f"fewer than {bound} with writes); {writes} writes, {throttled} answered 429 "
        f"({100 * throttled / max(1, writes):.2f}%), "
        f"{sum(r['failed'] for r in rows)} failed"
    )
    worst = max((r["seconds"] / r["arm_bound"] for r in rows if r["arm_bound"] >= 1), default=float("nan"))
    print(f"worst sweep against ARM's write-bucket bound: x{worst:.2f}")
    print(
        f"version published after sweep 1: fully replicated by sweep {replicated_by} "
        f"({(replicated_by or 0) - (published or 0)} sweep(s) later)"
    )
    print(f"steady state after: {rows[-1]['actions']} actions, {rows[-1]['writes']} writes")


def part_two(emulator: Any) -> None:
    emulator.reset()
    images = 20
    per_image = BIG // images
    subs = [sub_id(100)]
    t0 = time.perf_counter()
    workdir, now = setup(emulator, subs, images, per_image)
    print(
        f"\n{BIG} versions in one subscription ({images} images), built in {time.perf_counter() - t0:.0f} s"
    )
    (workdir / "policy.json").write_text(json.dumps(policy(subs, {"eastus": 1})))
    sweep(emulator, now)
    (workdir / "policy.json").write_text(json.dumps(policy(subs, {"eastus": 1, "westeurope": 1})))
    budget = int(os.environ.get("LIFECYCLE_TIME_BUDGET_SECONDS", 480))
    done, app_peak = 0, 0.0
    for n in range(1, BIG_SWEEPS + 1):
        # Each sweep in its own process, as the timer function runs it (the same reconcile), so its peak
        # memory is the app's alone, not that of the benchmark that built the fleet.
        now += SWEEP
        emulator.set_time(now)
        before = emulator.stats()
        t0 = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-c", SWEEP_PROCESS, now.isoformat()],
            capture_output=True,
            text=True,
            cwd=Path(__file__).resolve().parents[1],
            check=True,
        )
        seconds = time.perf_counter() - t0
        after = emulator.stats()
        answer = json.loads(out.stdout.strip().splitlines()[-1])
        summary = answer["summary"]
        app_peak = max(app_peak, answer["peak_mb"])
        writes = after["by_method"]["PATCH"] - before["by_method"]["PATCH"]
        done += writes
        print(
            f"  sweep {n}: {writes} writes, {after['throttled'] - before['throttled']} 429s, "
            f"{summary['deferred']} deferred, {summary['failed']} failed, "
            f"{summary['deferred_images']} images deferred; {seconds:.1f} s (time budget {budget} s)"
        )
    print(f"peak memory of the app's process (a sweep over {BIG} versions): {app_peak:.0f} MB")
    per_sweep = max(1, done // BIG_SWEEPS)
    print(
        f"projection: {math.ceil(BIG / per_sweep)} sweeps at {per_sweep} writes per sweep; "
        f"Compute's policies allow no fewer than {compute_bound(BIG)}"
    )


def main() -> int:
    emulator = start_emulator("--replication-seconds", "60", "--throttle", "--page-size", "100")
    try:
        part_one(emulator)
        if BIG:
            part_two(emulator)
    finally:
        emulator.stop()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak memory of the benchmark's own process (it builds the fleet): {peak:.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
