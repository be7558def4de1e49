"""Event storm: thousands of deliveries (a fifth duplicated, a tenth malformed, all out of order) against one
gallery on the emulator and Azurite, through the function handler as the Python worker calls it, from as
many threads as the worker's default pool.

A second gallery with the same images, versions and build events gets one sweep instead. The policy is
that of a gallery whose builds report in: a new version's first write waits for its build event
(`metadata.await_build_minutes`), so the order of the two does not change how many writes there are.
Properties:
- no uncaught error (a build event the handler asks to have redelivered is redelivered, as Event Grid does);
- each image's versions end in the same state as the swept gallery's;
- the stormed gallery got no more ARM writes than the swept one: counted by the emulator during the
  storm, and per gallery over the whole test from the audit log (one write per version a run changed);
  and the same actions on the same versions;
- no two runs held one image's lease at once (the lease intervals in the audit log never overlap).

`make storm` runs 5,000 deliveries; `make test` a short storm.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import os
import random
import sys
import threading
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from azure.functions.timer import TimerRequest

from lifecycle.cli import main as cli_main
from lifecycle.gateways.storage import BlobStateStore
from lifecycle.settings import Settings
from tests.harness.host import EVENT_GRID_MAX_ATTEMPTS, worker_event
from tests.integration.conftest import Env
from tests.integration.test_function_app import functions, load_app
from tests.reliability import figures
from tests.reliability.gallery import create_gallery, create_image, create_version, gallery_id, versions
from tests.reliability.strategies import build_event, write_event

pytestmark = pytest.mark.integration
SUITE = "storm"
STORMED, SWEPT = "golden", "reference"
IMAGES = ("ubuntu-24.04", "win2022", "rhel9", "debian12")
# (version, how long before now it was published): two past end-of-life + grace (deleted), one expired,
# and two just published, whose write events and build events arrive in any order.
TIMELINE = (
    ("1.0.0", timedelta(days=200)),
    ("1.0.1", timedelta(days=199)),
    ("1.0.2", timedelta(days=100)),
    ("1.0.3", timedelta(minutes=3)),
    ("1.0.4", timedelta(minutes=2)),
)
AWAIT_BUILD_MINUTES = 30
WORKERS = min(32, (os.cpu_count() or 1) + 4)  # the Python worker's default thread pool (3.9+)


def policy() -> str:
    return json.dumps(
        {
            "schema": 1,
            "defaults": {
                "replication": {"regions": {"eastus": 1, "westeurope": 1}},
                "metadata": {"tags": {"owner": "platform"}, "await_build_minutes": AWAIT_BUILD_MINUTES},
                "retention": {"lifetime_days": 90, "keep_latest": 2, "delete_after_days": 30},
            },
            "galleries": [{"id": gallery_id(STORMED)}, {"id": gallery_id(SWEPT)}],
        }
    )


def build_gallery(env: Env, name: str, now: datetime) -> None:
    create_gallery(env, name)
    for image in IMAGES:
        create_image(env, name, image)
    for version, age in TIMELINE:
        env.emulator.set_time(now - age)
        for image in IMAGES:
            create_version(env, name, image, version)


def version_id(gallery: str, image: str, version: str) -> str:
    return f"{gallery_id(gallery)}/images/{image}/versions/{version}"


def builds(gallery: str) -> list[dict[str, Any]]:
    """One BuildCompleted per new version, the same metadata in both galleries."""
    return [
        build_event(
            "eventgrid",
            version_id(gallery, image, version),
            event_id=f"build-{gallery}-{image}-{version}",
            buildId=f"{image}-{version}",
            commit="c0ffee" + version.replace(".", ""),
        )
        for image in IMAGES
        for version, age in TIMELINE
        if age < timedelta(days=1)
    ]


def deliveries(total: int, rng: random.Random) -> tuple[list[dict[str, Any]], Counter[str]]:
    kinds: Counter[str] = Counter()
    malformed_n, duplicate_n = total // 10, total // 5
    valid: list[dict[str, Any]] = list(builds(STORMED))
    while len(valid) < total - malformed_n - duplicate_n:
        image, (version, _) = rng.choice(IMAGES), rng.choice(TIMELINE)
        valid.append(
            write_event(
                rng.choice(["eventgrid", "cloudevents"]),
                version_id(STORMED, image, version),
                event_id=str(uuid.UUID(int=rng.getrandbits(128))),
            )
        )
    kinds["valid"] = len(valid)
    broken: list[dict[str, Any]] = []
    for i in range(malformed_n):
        event = dict(rng.choice(valid))
        how = i % 4
        if how == 0:
            event.pop("data", None)
            event["subject"] = "not a resource id"
        elif how == 1:
            event["id"] = None
        elif how == 2:
            event["data"] = {
                **event["data"],
                "resourceUri": event["data"].get("resourceUri", "x") + "/../../x",
                "imageVersionId": "/subscriptions/x",
            }
            event["subject"] = "/x"
        else:
            event.pop("eventType", None)
            event.pop("type", None)
        event["id"] = event["id"] and f"bad-{i}"
        broken.append(event)
    kinds["malformed"] = len(broken)
    duplicates = [rng.choice(valid) for _ in range(duplicate_n)]
    kinds["duplicates"] = len(duplicates)
    everything = valid + broken + duplicates
    rng.shuffle(everything)
    return everything, kinds


def storm(
    on_event: Callable[[Any], None], payloads: list[dict[str, Any]], not_processed: type[Exception]
) -> Counter[str]:
    """Deliver everything from the worker's pool; a delivery that raises EventNotProcessed goes back in
    the queue (Event Grid's retry), up to its attempt limit."""
    counts: Counter[str] = Counter()
    lock = threading.Lock()
    pending: list[tuple[dict[str, Any], int]] = [(p, 1) for p in payloads]

    def deliver(item: tuple[dict[str, Any], int]) -> tuple[dict[str, Any], int] | None:
        payload, attempt = item
        try:
            on_event(worker_event(payload))
        except not_processed:
            with lock:
                counts["failed invocations (redelivered)"] += 1
                untyped = "eventType" not in payload and "type" not in payload
                if untyped or attempt >= EVENT_GRID_MAX_ATTEMPTS:
                    counts["dead-lettered untyped" if untyped else "dead-lettered"] += 1
                    return None
            return payload, attempt + 1
        except Exception as exc:
            with lock:
                counts["uncaught errors"] += 1
                counts[f"uncaught {exc.__class__.__name__}"] += 1
        return None

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        while pending:
            with lock:
                counts["deliveries"] += len(pending)
            pending = [again for again in pool.map(deliver, pending) if again is not None]
    return counts


def audit(env: Env, day: datetime) -> list[dict[str, Any]]:
    store = BlobStateStore(Settings.from_env(), env.state_url)
    records: list[dict[str, Any]] = []
    for offset in (-1, 0, 1):
        records += store.read_audit((day + timedelta(days=offset)).date())
    return records


def overlapping_leases(records: list[dict[str, Any]]) -> list[str]:
    runs: dict[tuple[str, str], tuple[str, str]] = {}
    for record in records:
        lease = record.get("lease")
        if lease and "until" in lease:
            image = record["target"].split("/versions/")[0].lower()
            runs[(image, lease["run"])] = (lease["from"], lease["until"])
    by_image: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
    for (image, run), (start, end) in runs.items():
        by_image[image].append((start, end, run))
    problems = []
    for image, intervals in by_image.items():
        intervals.sort()
        for (_, e1, r1), (s2, _, r2) in itertools.pairwise(intervals):
            if s2 < e1:
                problems.append(f"{image}: run {r2} took the lease at {s2} while {r1} held it until {e1}")
    return problems


def test_event_storm(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    total = figures.scale(300, 5_000)
    rng = random.Random(total)
    now = datetime.now(UTC)
    env.put_policy(policy())
    for name in (STORMED, SWEPT):
        build_gallery(env, name, now)
    env.emulator.set_time(now)  # the product's clock is the real one: the emulator's is brought back to it
    on_event = functions(load_app(monkeypatch, None))["on_event"].get_user_function()

    payloads, kinds = deliveries(total, rng)
    writes_before = env.writes()
    # load_app imported the blueprint afresh: its EventNotProcessed is the one the handler raises.
    counts = storm(on_event, payloads, sys.modules["lifecycle.triggers"].EventNotProcessed)
    storm_writes = env.writes() - writes_before

    # The reference: the same build events delivered once (each reconciles its image), then one sweep.
    writes_before = env.writes()
    for event in builds(SWEPT):
        on_event(worker_event(event))
    with contextlib.redirect_stdout(io.StringIO()):
        assert cli_main(["apply", "--config", env.config_url, "--scope", gallery_id(SWEPT)]) == 0
    sweep_writes = env.writes() - writes_before

    # Both galleries finish replicating; one more sweep applies what had to wait for that (build metadata
    # kept while a version was being written), in both alike: the timer's, which opens a new delete
    # interval and makes the stormed gallery's deletes (runs answering events delete nothing). Then compare.
    env.advance(hours=1)
    functions(load_app(monkeypatch, None))["sweep"].get_user_function()(TimerRequest(past_due=False))
    records = audit(env, now)
    failures: list[str] = []
    for image in IMAGES:
        stormed, swept = versions(env, STORMED, image), versions(env, SWEPT, image)
        figures.check(SUITE, stormed == swept, f"{image}: stormed {stormed} != swept {swept}", failures)
    written = Counter(
        (r["action"], r["target"].split("/galleries/")[1].split("/", 1)[1])
        for r in records
        if r.get("outcome") == "succeeded" and f"/galleries/{STORMED}/" in r["target"]
    )
    swept_written = Counter(
        (r["action"], r["target"].split("/galleries/")[1].split("/", 1)[1])
        for r in records
        if r.get("outcome") == "succeeded" and f"/galleries/{SWEPT}/" in r["target"]
    )

    # Writes per gallery over the whole test (storm or reference, then the final sweep): one ARM write per
    # version a run changed, so distinct (run, version) pairs among the succeeded audit records.
    def patches(gallery: str) -> int:
        return len(
            {
                (r.get("lease", {}).get("run"), r["target"])
                for r in records
                if r.get("outcome") == "succeeded" and f"/galleries/{gallery}/" in r["target"]
            }
        )

    figures.check(
        SUITE,
        patches(STORMED) <= patches(SWEPT),
        f"{patches(STORMED)} writes to the stormed gallery in all, {patches(SWEPT)} to the swept one",
        failures,
    )
    extra, missing = set(written) - set(swept_written), set(swept_written) - set(written)
    figures.check(
        SUITE, not extra and not missing, f"beyond the sweep's {extra}, missing {missing}", failures
    )
    figures.check(
        SUITE, storm_writes <= sweep_writes, f"{storm_writes} ARM writes, the sweep {sweep_writes}", failures
    )
    figures.check(SUITE, counts["uncaught errors"] == 0, f"uncaught errors: {counts}", failures)
    figures.check(SUITE, counts["dead-lettered"] == 0, f"build events dead-lettered: {counts}", failures)
    for problem in overlapping_leases(records) or [None]:
        figures.check(SUITE, problem is None, str(problem), failures)
    figures.add(
        SUITE,
        inputs=total,
        **{
            "deliveries incl. redeliveries": counts["deliveries"],
            "duplicates": kinds["duplicates"],
            "malformed": kinds["malformed"],
            "uncaught errors": counts["uncaught errors"],
            "ARM writes by the storm": storm_writes,
            "ARM writes by one sweep": sweep_writes,
            "writes to the stormed gallery in all": patches(STORMED),
            "writes to the swept gallery in all": patches(SWEPT),
            "leased runs that wrote": len({r["lease"]["run"] for r in records if r.get("lease")}),
        },
    )
    assert not failures, failures
