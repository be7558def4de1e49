"""Fleet scale on the emulator with Compute's throttling on: the write budget is respected (no 429 storm),
what it cannot take is deferred and reported, new builds go first during a bulk change, a long
Retry-After is never slept on, parallel runs give a sequential run's results, and the time budget holds."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from lifecycle import tags as lt
from lifecycle.gateways.storage import state_store
from lifecycle.reconcile import RunReport, Runtime, Trigger, reconcile
from lifecycle.settings import Settings
from tests.harness.builders import gallery_image_body
from tests.integration.conftest import GALLERY, RG, SOURCE, SUB, Env

pytestmark = pytest.mark.integration
START = datetime(2026, 6, 1, tzinfo=UTC)
SUB2 = "00000000-0000-0000-0000-000000000002"
SUBS = (SUB, SUB2)
IMAGES = ("alpha", "beta", "gamma")
WRITE = "PATCH Microsoft.Compute/galleries/images/versions"
TWO_REGIONS = {"eastus": 1, "westeurope": 1}


def gallery_id(sub: str) -> str:
    return f"/subscriptions/{sub}/resourceGroups/{RG}/providers/Microsoft.Compute/galleries/{GALLERY}"


def policy(regions: dict[str, int], **defaults: Any) -> str:
    return json.dumps(
        {
            "schema": 1,
            "mode": "enforce",
            "defaults": {"replication": {"regions": regions}, **defaults},
            "galleries": [{"id": gallery_id(sub), "images": {"*": {}}} for sub in SUBS],
        }
    )


def create_version(env: Env, sub: str, image: str, name: str) -> None:
    body = {
        "location": "eastus",
        "properties": {
            "publishingProfile": {"targetRegions": [{"name": "eastus", "regionalReplicaCount": 1}]},
            "storageProfile": {"osDiskImage": {"source": {"id": SOURCE.replace(SUB, sub)}}},
        },
    }
    env.emulator.compute(sub).gallery_image_versions.begin_create_or_update(
        RG, GALLERY, image, name, body, polling=False
    )


def build_fleet(env: Env, versions: int, at: datetime | None = None) -> None:
    """Three images with `versions` versions in each subscription (published at exactly `at`, if given)."""
    for sub in SUBS:
        compute = env.emulator.compute(sub)
        compute.galleries.begin_create_or_update(
            RG, GALLERY, {"location": "eastus", "properties": {}}
        ).result()
        for image in IMAGES:
            body = gallery_image_body(image)
            compute.gallery_images.begin_create_or_update(RG, GALLERY, image, body).result()
            for i in range(versions):
                if at is not None:
                    env.emulator.set_time(at)
                create_version(env, sub, image, f"1.0.{i}")
    env.advance(hours=1)


def sweep(env: Env) -> RunReport:
    report = reconcile(Trigger("sweep"), at=env.now())
    assert not report.errors, report.errors
    return report


def converge(env: Env, sweeps: int = 30, minutes: float = 10) -> list[RunReport]:
    """Sweep every `minutes` (virtual) until a sweep has nothing to do."""
    reports = []
    for _ in range(sweeps):
        reports.append(sweep(env))
        if reports[-1].summary()["actions"] == 0:
            return reports
        env.advance(minutes=minutes)
    raise AssertionError(f"not converged after {sweeps} sweeps: {reports[-1].summary()}")


def regions_of(env: Env, sub: str, image: str, name: str) -> dict[str, str]:
    body = env.emulator.compute(sub).gallery_image_versions.get(
        RG, GALLERY, image, name, expand="ReplicationStatus"
    )
    status = body["properties"].get("replicationStatus") or {}
    return {s["region"].replace(" ", "").lower(): s["state"] for s in status.get("summary", [])}


@pytest.fixture()
def throttled(env: Env, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    """A converged fleet, then Compute's throttling on with small limits (3-minute 12, 30-minute 30
    version writes) and a small reserve and headroom to match."""
    env.put_policy(policy({"eastus": 1}))
    build_fleet(env, versions=6)
    converge(env)
    env.advance(hours=1)  # the converging writes leave both windows
    monkeypatch.setenv("LIFECYCLE_WRITE_RESERVE", "2")
    monkeypatch.setenv("LIFECYCLE_BULK_HEADROOM", "3")
    env.emulator.control(
        "POST",
        "config",
        {"throttle": True, "compute_limits": {"CreateUpdateGalleryImageVersion": [12, 30]}},
    )
    yield env


def test_a_fleet_wide_edit_keeps_within_the_budget_and_defers_the_rest(throttled: Env) -> None:
    env = throttled
    env.put_policy(policy(TWO_REGIONS))
    first = sweep(env)
    summary = first.summary()
    assert summary["failed"] == 0
    # 12 per 3 minutes, less the reserve 2: 10 writes per subscription, the rest deferred. The headroom of
    # 3 is held for new builds only until every image of the subscription is past its new-build lane (a
    # sweep sees them all), then bulk work takes it in the 3-minute window (not in the 30-minute one).
    assert summary["succeeded"] == 2 * 10
    assert summary["deferred"] == 36 - summary["succeeded"]
    data = first.to_json()
    assert data["summary"]["deferred"] == summary["deferred"]
    assert {o["status"] for o in data["outcomes"]} == {"succeeded", "deferred"}
    assert all("budget" in o["error"] for o in data["outcomes"] if o["status"] == "deferred")
    assert set(data["budget"]["remaining"]) == set(SUBS)
    assert all(
        left["CreateUpdateGalleryImageVersion"] is not None and left["CreateUpdateGalleryImageVersion"] >= 2
        for left in data["budget"]["remaining"].values()
    )

    env.advance(minutes=4)
    reports = [first, *converge(env, minutes=4)]
    stats = env.emulator.stats()
    assert stats["throttled"] == 0, stats["throttled_by_policy"]  # the budget kept the app under the limits
    assert sum(r.summary()["failed"] for r in reports) == 0
    # The 30-minute window (30, less 2 kept) binds: 18 writes per subscription need a second window.
    assert len(reports) >= 3
    for sub in SUBS:
        for image in IMAGES:
            assert regions_of(env, sub, image, "1.0.5") == {"eastus": "Completed", "westeurope": "Completed"}


def test_a_new_build_is_replicated_within_one_sweep_during_a_bulk_change(throttled: Env) -> None:
    env = throttled
    # A 30-minute window of 20: the second sweep's bulk work stops at its headroom, kept for new builds.
    env.emulator.control("POST", "config", {"compute_limits": {"CreateUpdateGalleryImageVersion": [12, 20]}})
    env.put_policy(policy(TWO_REGIONS))
    first = sweep(env)
    assert first.summary()["deferred"] > 0  # the bulk change is under way
    create_version(env, SUB, "beta", "2.0.0")
    # The next sweep: the 3-minute window has slid (sweeps are 15 minutes apart), the 30-minute one has not,
    # and the first sweep took all of the 3-minute one but the reserve (its new-build headroom released).
    env.advance(minutes=4)
    report = sweep(env)
    new_id = f"{gallery_id(SUB)}/images/beta/versions/2.0.0"
    assert [o.status for o in report.outcomes if o.action.target == new_id] == ["succeeded"] * len(
        [o for o in report.outcomes if o.action.target == new_id]
    )
    assert any(o.action.target == new_id and o.action.kind.value == "replicate" for o in report.outcomes)
    assert report.summary()["deferred"] > 0  # bulk work still waits, the new build did not
    env.advance(minutes=2)  # its replication completes on the emulator (60 s per region)
    assert regions_of(env, SUB, "beta", "2.0.0") == {"eastus": "Completed", "westeurope": "Completed"}
    after = sweep(env)
    replicated = [
        n.subject for n in after.notifications if n.type.value == "ImageLifecycle.VersionReplicated"
    ]
    assert new_id in replicated


def test_a_long_retry_after_is_deferred_not_slept_on(throttled: Env) -> None:
    env = throttled
    # Someone else fills the 3-minute window; the app's next write meets a 429 asking for minutes.
    env.emulator.control("POST", "config", {"compute_limits": {"CreateUpdateGalleryImageVersion": [1, 30]}})
    env.emulator.compute(SUB).gallery_image_versions.begin_update(
        RG, GALLERY, "alpha", "1.0.0", {"tags": {"owner": "someone"}}, polling=False
    )
    before = env.emulator.stats()["by_operation"].get(WRITE, 0)
    env.put_policy(policy(TWO_REGIONS))
    report = sweep(env)
    after = env.emulator.stats()
    assert report.summary()["failed"] == 0
    # SUB's window is full; SUB2's has room for exactly one write.
    assert report.summary()["succeeded"] == 1
    # One probe per subscription at most reached Compute; nothing was retried after its Retry-After.
    assert after["by_operation"][WRITE] - before <= 2
    assert after["throttled"] >= 1
    assert report.budget["throttled"] == after["throttled"]
    deferred = [o for o in report.outcomes if o.status == "deferred"]
    assert len(deferred) == len(report.outcomes) - 1 > 30
    assert any("429" in (o.error or "") or "throttled" in (o.error or "") for o in deferred)


def _scenario(env: Env) -> None:
    """Two subscriptions: replication to add, tags, end-of-life, and more deletes due than the cap."""
    env.emulator.set_time(START)
    env.put_policy(policy({"eastus": 1}))
    build_fleet(env, versions=5, at=START)
    env.put_policy(
        policy(
            TWO_REGIONS,
            metadata={"tags": {"owner": "platform"}},
            retention={
                "lifetime_days": 1,
                "keep_latest": 2,
                "delete_after_days": 0,
                "max_deletes_per_run": 4,
            },
        )
    )


def _comparable(report: RunReport) -> dict[str, Any]:
    data = report.to_json()
    data.pop("budget")
    return data


def _run_once(env: Env, monkeypatch: pytest.MonkeyPatch, concurrency: int, run: str) -> tuple[Any, ...]:
    env.emulator.reset()
    monkeypatch.setenv("LIFECYCLE_STATE_URL", f"{env.azurite.blob_endpoint}/state-{run}")
    monkeypatch.setenv("LIFECYCLE_IMAGE_CONCURRENCY", str(concurrency))
    _scenario(env)
    reports = []
    for day in (4, 6, 8):
        # Exact instants: the virtual clock runs on in real time, and the two runs take different times.
        at = START + timedelta(days=day)
        env.emulator.set_time(at)
        report = reconcile(Trigger("sweep"), at=at)
        assert not report.errors, report.errors
        reports.append(_comparable(report))
    # Each image delivers its own events (its outbox): across images they arrive in any order.
    events = sorted(
        (e["type"], e["subject"], json.dumps(e.get("data"), sort_keys=True)) for e in env.emulator.events()
    )
    records = state_store(Settings.from_env()).read_audit(env.now().date())
    # `lease` names the run and the wall-clock interval it held the image: it differs between any two runs.
    audit = sorted(json.dumps({k: v for k, v in r.items() if k != "lease"}, sort_keys=True) for r in records)
    return reports, events, audit


def _first_difference(a: Any, b: Any, path: str = "") -> str:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            if a.get(key) != b.get(key):
                return _first_difference(a.get(key), b.get(key), f"{path}.{key}")
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            if x != y:
                return _first_difference(x, y, f"{path}[{i}]")
    return f"{path}: {a!r} != {b!r}"


def test_parallel_runs_give_the_results_audit_and_events_of_a_sequential_run(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = env.state_url.rsplit("-", 1)[-1]
    sequential = _run_once(env, monkeypatch, 1, f"{run}-seq")
    parallel = _run_once(env, monkeypatch, 4, f"{run}-par")
    kinds = [r["summary"]["by_kind"] for r in sequential[0]]
    assert next(k.get("delete") for k in kinds if "delete" in k) == 4  # the cap, across both subscriptions
    assert sequential[0][0]["summary"]["succeeded"] > 20
    assert parallel[0] == sequential[0], _first_difference(sequential[0], parallel[0])
    assert parallel[1] == sequential[1]
    assert parallel[2] == sequential[2]


class SteppingTimer:
    """Elapsed seconds that grow by `step` on every reading: a run that reads it often runs out of time."""

    def __init__(self, step: float) -> None:
        self.step = step
        self.now = 0.0

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def test_the_time_budget_defers_whole_images_and_the_next_run_finishes(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    env.put_policy(policy({"eastus": 1}))
    build_fleet(env, versions=3)
    monkeypatch.setenv("LIFECYCLE_TIME_BUDGET_SECONDS", "40")
    monkeypatch.setenv("LIFECYCLE_IMAGE_CONCURRENCY", "1")
    runtime = replace(Runtime.from_settings(Settings.from_env()), timer=SteppingTimer(2.0))
    report = reconcile(Trigger("sweep"), runtime=runtime, at=env.now())
    assert not report.errors
    assert report.deferred, "some images must be left to the next run"
    assert all("not started: time budget" in line for line in report.deferred)
    started = {p.image.id for p in report.plans}
    assert len(started) + len(report.deferred) == 2 * len(IMAGES)
    # Nothing half-done: every action of a started image either ran or is deferred, none failed.
    assert report.summary()["failed"] == 0
    # The next run (with time to spare) takes the rest.
    report = sweep(env)
    assert not report.deferred
    env.advance(minutes=10)
    converge(env)
    for sub in SUBS:
        for image in IMAGES:
            version = env.emulator.compute(sub).gallery_image_versions.get(RG, GALLERY, image, "1.0.2")
            assert version["tags"][lt.STATE] == lt.STATE_ACTIVE
