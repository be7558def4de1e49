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
    # The build is trusted by the topic Event Grid stamped, not by a CloudEvents source naming it.
    assert "A CloudEvent naming the build topic as its source is refused:" in out
    assert "vouches for nothing" in out and "'forged'" not in out
    # A region failing on every retry is removed and added back, then healed.
    assert "retry failed region westeurope by updating the version again (failure 1 of 2)" in out
    assert "remove failed region westeurope after 2 failures, to add it back next" in out
    assert "region westeurope healed after 2 failure(s)" in out
    # Release gates: an approval, a revocation flowing to a child image, a base-image rebake.
    for event in ("VersionApproved", "VersionPromoted", "VersionRevoked"):
        assert f"ImageLifecycle.{event}" in out
    assert "approval required: published into latest, taken out until approved" in out
    assert "revoked: built on revoked" in out
    urn = "Canonical:ubuntu-24_04-lts:server"
    assert f"base image updated: {urn}:24.04.202611010 -> {urn}:24.04.202611100" in out
    assert out.count("base image updated:") == 1
    # Azure's signals: a version held for its validation then promoted, a flagged one quarantined with
    # latest moving back in every region, a base scheduled for deprecation rebaked once.
    assert "platform validation required: held out of latest until it succeeded" in out
    assert "every platform validation succeeded" in out
    assert "latest after:  eastus 1.3.0, japaneast 1.3.0, westeurope 1.3.0" in out
    assert "ImageLifecycle.VersionQuarantined" in out and "ImageLifecycle.BaseImageDeprecated" in out
    assert out.count("is ScheduledForDeprecation (deprecation date") == 1
    # Who runs what: a pinned VM, a production scale set on latest (by exactVersion), the warning before
    # end-of-life, and an older version shrinking everywhere but where its VM runs.
    assert (
        "ImageLifecycle.VersionExpiring ubuntu-24.04/versions/1.3.0" in out and "owners team-billing" in out
    )
    assert "running latest in production: 1" in out
    assert "older version (past the newest 1): shrink to {eastus: 1}" in out
    assert "region westeurope kept: a machine there runs this version" in out
    # It ends with what a region costs and the fleet report's path.
    assert "cost change: +" in out and "southeastasia +" in out
    report = out.rstrip().splitlines()[-1].removeprefix("Open it in a browser: ")
    assert report.endswith("demo-report.html")
    with open(report, encoding="utf-8") as handle:
        page = handle.read()
        assert 'id="replication-matrix"' in page
        assert 'id="at-risk-table"' in page and 'id="latest-table"' in page
