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
from azure.core.exceptions import ResourceNotFoundError

from lifecycle import tags as lt
from lifecycle.gateways.storage import state_store
from lifecycle.model import parse_time
from lifecycle.reconcile import RunReport, Trigger, reconcile
from lifecycle.settings import Settings
from tests.integration.conftest import GALLERY, GALLERY_ID, RG, SUB, Env

pytestmark = pytest.mark.integration
IMAGE = "ubuntu-24.04"
IMAGE_ID = f"{GALLERY_ID}/images/{IMAGE}"
RETENTION = {"lifetime_days": 30, "keep_latest": 2, "delete_after_days": 10, "max_deletes_per_run": 3}
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

ACTIVE, EXPIRED, GONE = lt.STATE_ACTIVE, lt.STATE_EXPIRED, None
FAILED = "failed"  # provisioning failed: reported, never written to


def vid(name: str, image: str = IMAGE) -> str:
    return f"{GALLERY_ID}/images/{image}/versions/{name}"


def read(env: Env, name: str, image: str = IMAGE) -> dict[str, Any] | None:
    try:
        return env.version(image, name)
    except ResourceNotFoundError:
        return None


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
        if state == FAILED:
            assert body["properties"]["provisioningState"] == "Failed", name
            assert lt.STATE not in (body.get("tags") or {}), name
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

    # Day 46: 1.4.0 fails to provision. Failed versions do not count among the newest 2.
    at_day(46)
    env.emulator.control("POST", "faults", {"spec": "lro-fail=1"})
    env.create_version(IMAGE, "1.4.0")
    env.emulator.control("POST", "faults", {"spec": ""})
    env.advance(hours=1)
    assert env.version(IMAGE, "1.4.0")["properties"]["provisioningState"] == "Failed"

    # Day 51: 1.1.0 goes. Day 56: 1.2.0 is past its end-of-life (day 55) but still one of the newest 2
    # healthy versions; the failed 1.4.0 is reported and left alone (delete_failed_after_days unset).
    at_day(51)
    sweep(env)
    env.advance(minutes=5)
    assert_states(env, published, {"1.1.0": GONE, "1.2.0": ACTIVE, "1.3.0": ACTIVE, "1.4.0": FAILED})
    at_day(56)
    report = sweep(env)
    env.advance(minutes=5)
    assert_states(env, published, {"1.2.0": ACTIVE, "1.3.0": ACTIVE, "1.4.0": FAILED})
    plan = versions_report(report)
    assert plan["1.4.0"]["state"] == "failed" and "deleted" not in plan["1.4.0"]
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
