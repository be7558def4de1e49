"""A sweep over a large gallery: how many ARM calls it makes, and how long it takes.

20 image definitions with 50 versions each, published to 4 regions, on the ARM emulator. A tenth of the
versions lack a region the policy asks for. Target: at most one paged list per image, plus one write per
version that needs one; a second sweep writes nothing.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from emulator.launcher import start_emulator
from tests.harness.builders import gallery_image_body

IMAGES, VERSIONS = int(os.environ.get("BENCH_IMAGES", 20)), int(os.environ.get("BENCH_VERSIONS", 50))
SUB = "00000000-0000-0000-0000-0000000000be"
RG, GALLERY = "rg-bench", "bench"
GALLERY_ID = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Compute/galleries/{GALLERY}"
REGIONS = {"eastus": 1, "westeurope": 1, "japaneast": 1, "australiaeast": 1}


def main() -> int:
    emulator = start_emulator("--replication-seconds", "60")
    try:
        return run(emulator)
    finally:
        emulator.stop()


def run(emulator) -> int:  # type: ignore[no-untyped-def]
    compute = emulator.compute(SUB)
    start = emulator.now() - timedelta(days=10)
    emulator.set_time(start)
    compute.galleries.begin_create_or_update(RG, GALLERY, {"location": "eastus"}).result()
    needs_write = 0
    t0 = time.perf_counter()
    for i in range(IMAGES):
        image = f"image-{i:02d}"
        compute.gallery_images.begin_create_or_update(RG, GALLERY, image, gallery_image_body(image)).result()
        for v in range(VERSIONS):
            regions = dict(REGIONS)
            if v % 10 == 0:
                regions.pop("australiaeast")
                needs_write += 1
            body = {
                "location": "eastus",
                "tags": {"lifecycle.state": "active"},
                "properties": {
                    "publishingProfile": {
                        "targetRegions": [{"name": r, "regionalReplicaCount": c} for r, c in regions.items()],
                        "endOfLifeDate": (start + timedelta(days=365)).isoformat(),
                    },
                    "safetyProfile": {"blockDeletionBeforeEndOfLife": False},
                    "storageProfile": {"osDiskImage": {"source": {"id": f"{GALLERY_ID}/snap"}}},
                },
            }
            compute.gallery_image_versions.begin_create_or_update(
                RG, GALLERY, image, f"1.0.{v}", body, polling=False
            )
    build_seconds = time.perf_counter() - t0
    emulator.set_time(start + timedelta(days=10))

    workdir = Path(tempfile.mkdtemp(prefix="lifecycle-bench-"))
    policy = {
        "schema": 1,
        "defaults": {"replication": {"regions": REGIONS}, "retention": {"keep_latest": 3}},
        "galleries": [{"id": GALLERY_ID, "images": {"*": {}}}],
    }
    (workdir / "policy.json").write_text(json.dumps(policy))
    os.environ.update(
        {
            "LIFECYCLE_CONFIG_URL": str(workdir / "policy.json"),
            "LIFECYCLE_ARM_ENDPOINT": emulator.endpoint,
            "LIFECYCLE_ARM_CA_BUNDLE": emulator.ca_bundle,
            "LIFECYCLE_ARM_TOKEN": "bench",
        }
    )
    from lifecycle.reconcile import Trigger, reconcile

    figures = []
    for label in ("first sweep", "second sweep (after replication)", "third sweep (steady state)"):
        before = emulator.stats()
        t1 = time.perf_counter()
        report = reconcile(Trigger("sweep"), at=emulator.now())
        seconds = time.perf_counter() - t1
        after = emulator.stats()
        ops = {
            k: after["by_operation"].get(k, 0) - before["by_operation"].get(k, 0)
            for k in after["by_operation"]
        }
        ops = {k: n for k, n in ops.items() if n}
        writes = sum(n for k, n in ops.items() if k.split()[0] in ("PUT", "PATCH", "DELETE", "POST"))
        lists = ops.get("GET Microsoft.Compute/galleries/images/versions", 0)
        figures.append((label, seconds, ops, writes, lists, report))
        emulator.set_time(emulator.now() + timedelta(hours=1))

    print(
        f"gallery: {IMAGES} images x {VERSIONS} versions x {len(REGIONS)} regions "
        f"({needs_write} versions miss a region); built in {build_seconds:.1f} s"
    )
    for label, seconds, ops, writes, lists, report in figures:
        print(f"\n{label}: {seconds:.2f} s, {report.summary()['actions']} actions, {writes} ARM writes")
        for key, n in sorted(ops.items()):
            print(f"  {n:6d}  {key}")
        print(f"  version list pages per image: {lists / IMAGES:.2f}")
    first = figures[0]
    ok = first[3] <= needs_write and figures[1][3] == 0
    print(
        f"\ntarget (one paged list per image + one write per version needing one; then no writes): "
        f"{'met' if ok else 'NOT met'} (writes {first[3]} for {needs_write} versions needing one)"
    )
    # Steady state: nothing to do, nothing being watched. The least a sweep can make is one image list for
    # the gallery and one version list per image.
    steady = figures[2]
    calls = sum(steady[2].values())
    minimum = 1 + IMAGES
    ratio = calls / minimum
    print(
        f"steady-state sweep: {calls} ARM calls against the minimum {minimum} (ratio {ratio:.2f}; "
        f"target at most 1.05, no write): {'met' if ratio <= 1.05 and steady[3] == 0 else 'NOT met'}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
