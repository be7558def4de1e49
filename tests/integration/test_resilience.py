"""A failing or throttled ARM: clear errors naming the problem, nothing half-done, and convergence once ARM
recovers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable

import pytest

from lifecycle.reconcile import Trigger, reconcile
from tests.integration.conftest import RG, Env

pytestmark = pytest.mark.integration
REGIONS = {"eastus": 1, "westeurope": 1, "japaneast": 1}


def regions(env: Env, name: str) -> set[str]:
    body = env.version("ubuntu-24.04", name)
    return {t["name"] for t in body["properties"]["publishingProfile"]["targetRegions"]}


def gallery(env: Env, policy_text: Callable[..., str], versions: int = 3) -> None:
    env.put_policy(policy_text(regions=REGIONS))
    env.create_image("ubuntu-24.04")
    for i in range(versions):
        env.create_version("ubuntu-24.04", f"1.0.{i}")
    env.advance(hours=1)


def test_server_errors_are_reported_and_nothing_is_lost(env: Env, policy_text: Callable[..., str]) -> None:
    gallery(env, policy_text)
    env.emulator.control("POST", "faults", {"spec": "500=1.0"})
    report = reconcile(Trigger("sweep"), at=env.now())
    env.emulator.control("POST", "faults", {"spec": ""})
    assert report.failed
    assert any("500" in error for error in report.errors), report.errors
    # Nothing was changed, and the next sweep, with ARM healthy again, does the whole job.
    assert regions(env, "1.0.0") == {"East US"}
    healed = reconcile(Trigger("sweep"), at=env.now())
    assert not healed.failed
    env.advance(hours=1)
    assert all(regions(env, f"1.0.{i}") == {"East US", "West Europe", "Japan East"} for i in range(3))


def test_throttling_and_dropped_connections_converge(env: Env, policy_text: Callable[..., str]) -> None:
    gallery(env, policy_text, versions=6)
    env.emulator.control("POST", "faults", {"spec": "429=0.3,503=0.1,reset=0.1"})
    try:
        # Eight sweeps: a version's first write is an update and a tag merge (two requests to get through).
        for _ in range(8):
            reconcile(Trigger("sweep"), at=env.now())
            env.advance(hours=1)
    finally:
        env.emulator.control("POST", "faults", {"spec": ""})
    assert env.emulator.stats()["faults"] > 0
    final = reconcile(Trigger("sweep"), at=env.now())
    assert not final.failed and all(not p.actions for p in final.plans), final.to_json()
    assert all(regions(env, f"1.0.{i}") == {"East US", "West Europe", "Japan East"} for i in range(6))


def test_cli_apply_exits_1_with_the_error_when_arm_fails(env: Env, policy_text: Callable[..., str]) -> None:
    gallery(env, policy_text, versions=1)
    env.emulator.control("POST", "faults", {"spec": "503=1.0"})
    try:
        result = subprocess.run(
            [sys.executable, "-m", "lifecycle", "apply", "--config", env.config_url, "--json"],
            capture_output=True,
            text=True,
            env=dict(os.environ),
            timeout=120,
        )
    finally:
        env.emulator.control("POST", "faults", {"spec": ""})
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert any("503" in e for e in report["errors"]), report["errors"]


def test_a_wrong_scope_or_policy_is_a_usage_error(
    env: Env, policy_text: Callable[..., str], tmp_path
) -> None:  # type: ignore[no-untyped-def]
    env.put_policy(policy_text())
    bad_scope = subprocess.run(
        [
            sys.executable,
            "-m",
            "lifecycle",
            "plan",
            "--config",
            env.config_url,
            "--scope",
            f"/subscriptions/x/{RG}",
        ],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=60,
    )
    assert bad_scope.returncode == 2 and "--scope" in bad_scope.stderr
    broken = tmp_path / "policy.yaml"
    broken.write_text("schema: 1\ngalleries: [{id: nope}]\n")
    result = subprocess.run(
        [sys.executable, "-m", "lifecycle", "plan", "--config", str(broken)],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=60,
    )
    assert result.returncode == 2 and "galleries.0.id" in result.stderr


def test_a_missing_gallery_does_not_stop_the_others(env: Env, policy_text: Callable[..., str]) -> None:
    gallery(env, policy_text, versions=1)
    document = json.loads(policy_text(regions=REGIONS))
    missing = document["galleries"][0]["id"].replace("/galleries/golden", "/galleries/retired")
    document["galleries"].insert(0, {"id": missing, "images": {"*": {}}})
    env.put_policy(json.dumps(document))
    report = reconcile(Trigger("sweep"), at=env.now())
    assert report.failed and any("retired" in e and "404" in e for e in report.errors), report.errors
    assert [p.image.image for p in report.plans] == ["ubuntu-24.04"]
    assert [a.kind.value for a in report.plans[0].actions] == ["replicate", "tag"]
