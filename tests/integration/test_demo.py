"""`python -m lifecycle demo` (what `make demo` runs) works end to end and tells the story it promises."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration


def test_demo_runs_offline_and_ends_with_nothing_to_do() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIFECYCLE_")}
    result = subprocess.run(
        [sys.executable, "-m", "lifecycle", "demo"], capture_output=True, text=True, env=env, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert "0 actions, 0 ARM writes" in out
    for event in (
        "VersionReplicating",
        "VersionReplicated",
        "VersionExpired",
        "VersionDeleted",
        "RebakeRequested",
    ):
        assert f"ImageLifecycle.{event}" in out
    assert "not deleted: in use by a VM or scale set" in out
    assert "20261123.7" in out  # the build id from the BuildCompleted event, as a tag
