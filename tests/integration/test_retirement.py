"""Retirement end to end on the emulator's virtual clock: end-of-life dates, expiry out of `latest`,
deletion after the grace period, and every protection (newest N, in use, per-run cap, rejected policy,
dry-run), read back through the real SDK, the emulator's topic and the audit log."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

import pytest

from lifecycle import tags as lt
from lifecycle.gateways.storage import state_store
from lifecycle.model import parse_time
from lifecycle.reconcile import RunReport, Trigger, reconcile
from lifecycle.settings import Settings
from tests.harness.builders import scale_set_body
from tests.integration.conftest import GALLERY, GALLERY_ID, RG, Env

pytestmark = pytest.mark.integration
IMAGE = "ubuntu-24.04"
IMAGE_ID = f"{GALLERY_ID}/images/{IMAGE}"
RETENTION = {"lifetime_days": 30, "keep_latest": 2, "delete_after_days": 10, "max_deletes_per_run": 3}
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

ACTIVE, EXPIRED, GONE = lt.STATE_ACTIVE, lt.STATE_EXPIRED, None
FAILED = "failed"  # provisioning failed: healed while it can be, retired like any other
FAILED_EXPIRED = "failed, expired"  # provisioning failed and past end-of-life: tagged expired, not healed


def fail_for_good(env: Env, name: str, image: str = IMAGE) -> None:
    """The version's home region fails on creation and on every retry (see emulator.galleries.replication)."""
    env.emulator.control(
        "POST",
        "replication",
        {"version_id": vid(name, image), "region": "eastus", "outcome": "Failed", "heals_by": "readd"},
    )


def vid(name: str, image: str = IMAGE) -> str:
    return f"{GALLERY_ID}/images/{image}/versions/{name}"


def read(env: Env, name: str, image: str = IMAGE) -> dict[str, Any] | None:
    return env.find_version(image, name)


def sweep(env: Env) -> RunReport:
    report = reconcile(Trigger("sweep"), at=env.now())
    assert not report.errors, report.errors
    return report


def publish(env: Env, *names: str, image: str = IMAGE) -> dict[str, datetime]:
    """Create versions and let their creation finish on the virtual clock; returns publish times."""
    times = {}
    for name in names:
        env.create_version(image, name)
        times[name] = env.now()
    env.advance(hours=1)
    return times


def events_of(env: Env, kind: str) -> list[str]:
    return [e["subject"] for e in env.emulator.events() if e["type"] == f"ImageLifecycle.{kind}"]


def audit(env: Env, day: date, action: str) -> list[dict[str, Any]]:
    records = state_store(Settings.from_env()).read_audit(day)
    return [r for r in records if r["action"] == action]


def versions_report(report: RunReport | dict[str, Any], image: str = IMAGE) -> dict[str, dict[str, Any]]:
    data = report.to_json() if isinstance(report, RunReport) else report
    for entry in data["images"]:
        if entry["image"].lower().endswith(f"/images/{image}"):
            return {v["version"]: v for v in entry["versions"]}
    raise AssertionError(f"{image} not in the report")


def assert_states(env: Env, published: dict[str, datetime], expected: dict[str, str | None]) -> None:
    """Every version, read back through the SDK, is exactly in the expected state."""
    for name, state in expected.items():
        body = read(env, name)
        if state is GONE:
            assert body is None, f"{name} should be deleted"
            continue
        assert body is not None, f"{name} should exist"
        if state in (FAILED, FAILED_EXPIRED):
            assert body["properties"]["provisioningState"] == "Failed", name
            tag = (body.get("tags") or {}).get(lt.STATE)
            assert tag == (lt.STATE_EXPIRED if state == FAILED_EXPIRED else None), (name, tag)
            continue
        profile = body["properties"]["publishingProfile"]
        assert body["properties"]["provisioningState"] == "Succeeded", name
        assert body["tags"][lt.STATE] == state, name
        assert profile["excludeFromLatest"] is (state == EXPIRED), name
        eol = parse_time(profile["endOfLifeDate"])
        assert abs(eol - (published[name] + timedelta(days=30))) < timedelta(minutes=1), (name, eol)
    listed = {v["name"] for v in env.compute.gallery_image_versions.list_by_gallery_image(RG, GALLERY, IMAGE)}
    assert listed == {n for n, s in expected.items() if s is not GONE}


def test_versions_over_months_follow_the_rules_at_every_checkpoint(
    env: Env, policy_text: Callable[..., str]
) -> None:
    env.put_policy(policy_text(retention=RETENTION))
    env.create_image(IMAGE)
    start = env.now()
    published: dict[str, datetime] = {}

    def at_day(day: float) -> None:
        env.emulator.set_time(start + timedelta(days=day))

    # Day 0: the first version; Azure's default end-of-life (publish + 6 months) is replaced by ours.
    published |= publish(env, "1.0.0")
    default_eol = parse_time(env.version(IMAGE, "1.0.0")["properties"]["publishingProfile"]["endOfLifeDate"])
    assert default_eol - published["1.0.0"] > timedelta(days=150)
    sweep(env)
    env.advance(minutes=5)
    assert_states(env, published, {"1.0.0": ACTIVE})

    at_day(10)
    published |= publish(env, "1.1.0")
    sweep(env)
    env.advance(minutes=5)
    assert_states(env, published, {"1.0.0": ACTIVE, "1.1.0": ACTIVE})

    # Day 25: 1.2.0 pushes 1.0.0 out of the newest 2; its end-of-life (day 30) has not come yet.
    at_day(25)
    published |= publish(env, "1.2.0")
    report = sweep(env)
    env.advance(minutes=5)
    assert_states(env, published, {"1.0.0": ACTIVE, "1.1.0": ACTIVE, "1.2.0": ACTIVE})
    plan = versions_report(report)
    assert plan["1.0.0"]["expires"] == (published["1.0.0"] + timedelta(days=30)).date().isoformat()
    assert plan["1.0.0"]["deleted"] == (published["1.0.0"] + timedelta(days=40)).date().isoformat()
    assert plan["1.2.0"]["protected"] == "newest 2" and "deleted" not in plan["1.2.0"]
    assert events_of(env, "VersionExpired") == []

    # Day 31: 1.0.0 is past its end-of-life: out of `latest`, tagged expired, announced once.
    at_day(31)
    sweep(env)
    env.advance(minutes=5)
    assert_states(env, published, {"1.0.0": EXPIRED, "1.1.0": ACTIVE, "1.2.0": ACTIVE})
    assert events_of(env, "VersionExpired") == [vid("1.0.0")]
    sweep(env)
    assert events_of(env, "VersionExpired") == [vid("1.0.0")], "expiry is announced once"

    # Day 41: the grace period of 1.0.0 is over: deleted, audited, announced. 1.1.0 is past its
    # end-of-life (day 40) but one of the newest 2, so it stays active.
    at_day(41)
    report = sweep(env)
    env.advance(minutes=5)
    assert_states(env, published, {"1.0.0": GONE, "1.1.0": ACTIVE, "1.2.0": ACTIVE})
    assert events_of(env, "VersionDeleted") == [vid("1.0.0")]
    deletes = audit(env, env.now().date(), "delete")
    assert [(r["target"], r["outcome"]) for r in deletes] == [(vid("1.0.0"), "succeeded")]
    assert versions_report(report)["1.1.0"]["protected"] == "newest 2"

    # Day 45: 1.3.0 arrives and 1.1.0 (end-of-life day 40) expires; its deletion is due on day 50.
    at_day(45)
    published |= publish(env, "1.3.0")
    sweep(env)
    env.advance(minutes=5)
    assert_states(env, published, {"1.1.0": EXPIRED, "1.2.0": ACTIVE, "1.3.0": ACTIVE})
    assert events_of(env, "VersionExpired") == [vid("1.0.0"), vid("1.1.0")]

    # Day 46: 1.4.0 fails to provision, in its home region, for good (retries do not cure it and the home
    # region cannot be removed). Failed versions do not count among the newest 2.
    at_day(46)
    fail_for_good(env, "1.4.0")
    env.create_version(IMAGE, "1.4.0")
    published_14 = env.now()
    env.advance(hours=1)
    assert env.version(IMAGE, "1.4.0")["properties"]["provisioningState"] == "Failed"

    # Day 51: 1.1.0 goes. Day 56: 1.2.0 is past its end-of-life (day 55) but still one of the newest 2
    # healthy versions; the failed 1.4.0 is retried (in vain) and follows retention like any other.
    at_day(51)
    sweep(env)
    env.advance(minutes=5)
    assert_states(env, published, {"1.1.0": GONE, "1.2.0": ACTIVE, "1.3.0": ACTIVE, "1.4.0": FAILED})
    at_day(56)
    report = sweep(env)
    env.advance(minutes=5)
    assert_states(env, published, {"1.2.0": ACTIVE, "1.3.0": ACTIVE, "1.4.0": FAILED})
    plan = versions_report(report)
    assert plan["1.4.0"]["state"] == "failed"
    assert plan["1.4.0"]["deleted"] == (published_14 + timedelta(days=40)).date().isoformat()
    assert plan["1.2.0"]["protected"] == "newest 2"
    assert read(env, "1.4.0") is not None

    # Day 70: 1.5.0 arrives; 1.2.0 leaves the newest 2 after its deletion date (day 65): it goes now.
    at_day(70)
    published |= publish(env, "1.5.0")
    sweep(env)
    env.advance(minutes=5)
    assert_states(env, published, {"1.2.0": GONE, "1.3.0": ACTIVE, "1.5.0": ACTIVE, "1.4.0": FAILED})
    assert events_of(env, "VersionDeleted") == [vid("1.0.0"), vid("1.1.0"), vid("1.2.0")]
    # Nothing else to do: a further sweep writes nothing.
    writes = env.writes()
    assert sweep(env).plans[0].actions == ()
    assert env.writes() == writes


def _scale_set(env: Env, name: str, image_reference: str) -> None:
    env.compute.virtual_machine_scale_sets.begin_create_or_update(
        RG, name, scale_set_body(image_reference)
    ).result()


def test_a_scale_set_keeps_its_version_past_the_deletion_date_until_it_is_gone(
    env: Env, policy_text: Callable[..., str]
) -> None:
    env.put_policy(policy_text(retention=RETENTION))
    env.create_image(IMAGE)
    start = env.now()
    published = publish(env, "1.0.0", "1.1.0")
    env.emulator.set_time(start + timedelta(days=5))
    published |= publish(env, "1.2.0")
    sweep(env)
    _scale_set(env, "web", vid("1.0.0"))

    env.emulator.set_time(start + timedelta(days=31))
    sweep(env)
    env.advance(minutes=5)
    assert_states(env, published, {"1.0.0": EXPIRED, "1.1.0": ACTIVE, "1.2.0": ACTIVE})

    # Day 45: past its deletion date (day 40), but the scale set still runs it.
    env.emulator.set_time(start + timedelta(days=45))
    for _ in range(2):
        report = sweep(env)
        env.advance(minutes=5)
        assert [a.kind.value for a in report.plans[0].actions] == []
        assert_states(env, published, {"1.0.0": EXPIRED, "1.1.0": ACTIVE, "1.2.0": ACTIVE})
        plan = versions_report(report)["1.0.0"]
        assert plan["notes"] == ["not deleted: in use by a VM or scale set"], plan
    assert events_of(env, "VersionDeleted") == []

    env.compute.virtual_machine_scale_sets.begin_delete(RG, "web").result()
    report = sweep(env)
    env.advance(minutes=5)
    assert [(a.kind.value, a.target) for a in report.plans[0].actions] == [("delete", vid("1.0.0"))]
    assert_states(env, published, {"1.0.0": GONE, "1.1.0": ACTIVE, "1.2.0": ACTIVE})
    assert events_of(env, "VersionDeleted") == [vid("1.0.0")]


def test_a_policy_edit_that_would_delete_500_versions_deletes_at_most_the_cap_per_run(
    env: Env, policy_text: Callable[..., str]
) -> None:
    env.emulator.control("POST", "config", {"replication_seconds": 1, "page_size": 100})
    never_delete = {"lifetime_days": 1, "keep_latest": 2, "delete_after_days": None, "max_deletes_per_run": 3}
    env.put_policy(policy_text(retention=never_delete))
    env.create_image(IMAGE)
    names = [f"1.0.{i}" for i in range(500)]
    for name in names:
        env.create_version(IMAGE, name)
    env.advance(days=2)
    report = sweep(env)
    assert report.summary()["by_kind"] == {"end_of_life": 500, "exclude_from_latest": 498, "tag": 500}
    assert not any(a.kind.value == "delete" for a in report.plans[0].actions)
    # 500 version writes are more than Compute's 3-minute budget allows (375, less the reserve and the
    # headroom kept for new builds): the rest is deferred to the next sweeps, none fails.
    assert report.summary()["failed"] == 0
    for _ in range(3):
        if not report.summary()["deferred"]:
            break
        env.advance(minutes=4)
        report = sweep(env)
    assert report.summary()["deferred"] == 0
    env.advance(minutes=1)

    # The edit makes 498 deletes due at once: each run deletes 3, oldest first, and says why not more.
    env.put_policy(policy_text(retention={**never_delete, "delete_after_days": 0}))
    deleted: list[str] = []
    for run in range(3):
        report = sweep(env)
        env.advance(minutes=1)
        batch = [a.target for a in report.plans[0].actions if a.kind.value == "delete"]
        assert batch == [vid(n) for n in names[3 * run : 3 * run + 3]]
        assert [o.status for o in report.outcomes] == ["succeeded"] * 3
        deleted += batch
        notes = {v: r.get("notes", []) for v, r in versions_report(report).items()}
        deferred = [
            v for v, n in notes.items() if n == ["not deleted: deferred: max_deletes_per_run (3) reached"]
        ]
        assert deferred == names[3 * run + 3 : 498]
    remaining = {
        v["name"] for v in env.compute.gallery_image_versions.list_by_gallery_image(RG, GALLERY, IMAGE)
    }
    assert remaining == set(names[9:])
    assert events_of(env, "VersionDeleted") == deleted
    assert env.emulator.stats()["by_operation"]["DELETE Microsoft.Compute/galleries/images/versions"] == 9


def test_deletes_pause_while_the_policy_is_rejected_or_unreadable(
    env: Env, policy_text: Callable[..., str]
) -> None:
    good = policy_text(retention=RETENTION)
    env.put_policy(good)
    env.create_image(IMAGE)
    start = env.now()
    published = publish(env, "1.0.0", "1.1.0", "1.2.0")
    sweep(env)
    env.emulator.set_time(start + timedelta(days=31))
    sweep(env)
    env.advance(minutes=5)
    assert_states(env, published, {"1.0.0": EXPIRED, "1.1.0": ACTIVE, "1.2.0": ACTIVE})

    env.emulator.set_time(start + timedelta(days=45))
    broken = json.loads(good)
    broken["defaults"]["retention"]["keep_latest"] = -1
    env.put_policy(json.dumps(broken))
    report = sweep(env)
    assert report.policy_problem and "defaults.retention.keep_latest" in report.policy_problem
    assert report.plans[0].actions == ()
    note = versions_report(report)["1.0.0"]["notes"]
    assert note == ["not deleted: policy rejected: deletes paused until a valid policy is in force"]

    container, blob = env.config_url.split("/")[-2:]
    env.blob_service.get_blob_client(container, blob).delete_blob()
    report = sweep(env)
    assert report.policy_problem and report.policy_problem.startswith("policy cannot be read")
    note = versions_report(report)["1.0.0"]["notes"]
    assert note == ["not deleted: policy cannot be read: deletes paused until a valid policy is in force"]
    env.advance(minutes=5)
    assert_states(env, published, {"1.0.0": EXPIRED, "1.1.0": ACTIVE, "1.2.0": ACTIVE})
    assert events_of(env, "VersionDeleted") == []

    env.put_policy(good)
    report = sweep(env)
    assert [a.kind.value for a in report.plans[0].actions] == ["delete"]
    env.advance(minutes=5)
    assert_states(env, published, {"1.0.0": GONE, "1.1.0": ACTIVE, "1.2.0": ACTIVE})


def cli(env: Env, *args: str) -> tuple[int, str]:
    done = subprocess.run(
        [sys.executable, "-m", "lifecycle", *args, "--config", env.config_url, "--at", env.now().isoformat()],
        cwd=ROOT,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, done.stdout


def test_dry_run_deletes_nothing_and_shows_every_delete_through_the_cli(
    env: Env, policy_text: Callable[..., str]
) -> None:
    env.put_policy(policy_text(retention=RETENTION))
    env.create_image(IMAGE)
    start = env.now()
    published = publish(env, "1.0.0", "1.1.0", "1.2.0", "1.3.0")
    env.emulator.set_time(start + timedelta(days=5))
    published |= publish(env, "1.4.0", "1.5.0")
    sweep(env)
    env.emulator.set_time(start + timedelta(days=36))
    sweep(env)
    env.advance(minutes=5)
    old = ["1.0.0", "1.1.0", "1.2.0", "1.3.0"]
    assert_states(env, published, {**dict.fromkeys(old, EXPIRED), "1.4.0": ACTIVE, "1.5.0": ACTIVE})

    # `plan` as people read it: the next date something happens, or why nothing will.
    env.emulator.set_time(start + timedelta(days=37))
    code, table = cli(env, "plan")
    assert code == 0
    rows = {line.split()[1]: line for line in table.splitlines() if line.startswith(f"{GALLERY}/images/")}
    day = (published["1.0.0"] + timedelta(days=30)).date()
    assert f"expires {day}, deleted {day + timedelta(days=10)}" in rows["1.0.0"]
    assert rows["1.0.0"].split()[2] == EXPIRED
    assert "kept: newest 2" in rows["1.5.0"] and "deleted" not in rows["1.5.0"]

    # Switch to dry-run past the deletion dates: the run shows its 3 deletes and the deferred 4th.
    env.put_policy(policy_text(mode="dry-run", retention=RETENTION))
    env.emulator.set_time(start + timedelta(days=41))
    before = env.writes()
    code, out = cli(env, "apply", "--json")
    assert code == 0
    report = json.loads(out)
    assert report["mode"] == "dry-run"
    deletes = [a for a in report["actions"] if a["kind"] == "delete"]
    assert [a["target"] for a in deletes] == [vid(n) for n in old[:3]]
    assert all(a["reason"].startswith("expired ") for a in deletes)
    assert {o["status"] for o in report["outcomes"]} == {"planned"}
    assert report["summary"]["by_kind"] == {"delete": 3} and report["summary"]["planned"] == 3
    versions = versions_report(report)
    assert [versions[n]["state"] for n in old] == ["deleting", "deleting", "deleting", EXPIRED]
    assert versions["1.3.0"]["notes"] == ["not deleted: deferred: max_deletes_per_run (3) reached"]
    assert versions["1.3.0"]["deleted"] == (published["1.3.0"] + timedelta(days=40)).date().isoformat()
    assert versions["1.5.0"]["protected"] == "newest 2"

    assert env.writes() == before
    assert_states(env, published, {**dict.fromkeys(old, EXPIRED), "1.4.0": ACTIVE, "1.5.0": ACTIVE})
    assert events_of(env, "VersionDeleted") == []
    planned = audit(env, env.now().date(), "delete")
    assert [(r["target"], r["outcome"]) for r in planned] == [(vid(n), "planned") for n in old[:3]]


def test_deletes_in_a_soft_delete_gallery_say_until_when_the_version_can_be_restored(
    env: Env, policy_text: Callable[..., str]
) -> None:
    env.compute.galleries.begin_update(
        RG, GALLERY, {"properties": {"softDeletePolicy": {"isSoftDeleteEnabled": True}}}
    ).result()
    env.put_policy(policy_text(retention={**RETENTION, "delete_failed_after_days": 1}))
    env.create_image(IMAGE)
    start = env.now()
    published = publish(env, "1.0.0", "1.1.0", "1.2.0")
    fail_for_good(env, "2.0.0")
    env.create_version(IMAGE, "2.0.0")
    sweep(env)
    env.emulator.set_time(start + timedelta(days=31))
    sweep(env)
    env.emulator.set_time(start + timedelta(days=41))
    report = sweep(env)
    env.advance(minutes=5)

    until = (env.now() + timedelta(days=7)).date().isoformat()
    [delete] = [a for a in report.plans[0].actions if a.kind.value == "delete"]
    assert delete.reason.endswith(f"; soft delete: restorable until {until} (7 days)"), delete.reason
    [event] = [e for e in env.emulator.events() if e["type"] == "ImageLifecycle.VersionDeleted"]
    assert event["subject"] == vid("1.0.0")
    assert event["data"]["softDeleted"] is True and event["data"]["restorableUntil"].startswith(until)
    [record] = audit(env, env.now().date(), "delete")
    assert record["after"]["restorable_until"].startswith(until) and record["outcome"] == "succeeded"
    assert_states(env, published, {"1.0.0": GONE, "1.1.0": ACTIVE, "1.2.0": ACTIVE, "2.0.0": FAILED_EXPIRED})
    # Azure refuses to delete failed versions while soft delete is on: reported, not attempted.
    failed = versions_report(report)["2.0.0"]
    assert failed["notes"] == [
        "not deleted: Azure cannot delete a failed version while the gallery has soft delete enabled",
        "replication failed; expired, so not healed",
    ]
    listed = list(env.compute.soft_deleted_resource.list_by_artifact_name(RG, GALLERY, "Images", IMAGE))
    assert [item["properties"]["resourceArmId"] for item in listed] == [vid("1.0.0")]

    # The operator restores it and holds deletes for the image; the version comes back as it was.
    hold = {**RETENTION, "delete_after_days": None}  # delete_failed_after_days back to unset
    env.put_policy(policy_text(retention=hold))
    env.compute.gallery_image_versions.begin_update(
        RG, GALLERY, IMAGE, "1.0.0", {"properties": {"restore": True, "storageProfile": {}}}
    ).result()
    report = sweep(env)
    assert report.plans[0].actions == ()
    assert_states(
        env, published, {"1.0.0": EXPIRED, "1.1.0": ACTIVE, "1.2.0": ACTIVE, "2.0.0": FAILED_EXPIRED}
    )
