"""Healing gives up cleanly, through the timer function: a version whose every region update Azure refuses
(403 LinkedAuthorizationFailed: its home region names a disk encryption set the app may not read) gets its
end-of-life all the same, each refused healing write counts as an attempt, and after the configured attempts
`ReplicationFailed` is published once and healing stops."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.integration.conftest import GALLERY_ID, Env
from tests.integration.host import handlers, timer

pytestmark = pytest.mark.integration
IMAGE = "ubuntu-24.04"
VERSION_ID = f"{GALLERY_ID}/images/{IMAGE}/versions/1.0.0"
DES = (
    "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-keys"
    "/providers/Microsoft.Compute/diskEncryptionSets/east"
)


def version_patches(env: Env) -> int:
    return int(
        env.emulator.stats()["by_operation"].get("PATCH Microsoft.Compute/galleries/images/versions", 0)
    )


def test_refused_heals_count_give_up_once_and_hold_nothing_back(
    env: Env, policy_text: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    env.put_policy(
        policy_text(
            replication={
                "regions": {"eastus": 1, "westeurope": 1},
                "retry_backoff_minutes": 0,
                "remove_readd_after": 2,
            },
            retention={"lifetime_days": 90, "keep_latest": 1},
        )
    )
    env.create_image(IMAGE)
    env.emulator.control(
        "POST",
        "replication",
        {"version_id": VERSION_ID, "region": "westeurope", "outcome": "Failed", "heals_by": "readd"},
    )
    encrypted = {"osDiskImage": {"diskEncryptionSetId": DES}}
    targets = [{"name": "eastus", "encryption": encrypted}, {"name": "westeurope"}]
    env.create_version(IMAGE, "1.0.0", publishing={"targetRegions": targets})
    env.advance(minutes=5)
    assert env.version(IMAGE, "1.0.0")["properties"]["provisioningState"] == "Failed"
    sweep = handlers(monkeypatch)["sweep"]

    sweep(timer())  # failure seen; the retry is refused; the end-of-life goes out on its own
    profile = env.version(IMAGE, "1.0.0")["properties"]["publishingProfile"]
    assert profile.get("endOfLifeDate"), "the end-of-life did not wait for the refused heal"
    assert env.lifecycle_events("ReplicationFailed") == []
    for _ in range(3):  # removal refused, then the attempts are spent
        env.advance(minutes=3)
        sweep(timer())
    failed = env.lifecycle_events("ReplicationFailed")
    assert [(e["subject"], e["data"]["region"]) for e in failed] == [(VERSION_ID, "westeurope")]
    assert "LinkedAuthorizationFailed" in failed[0]["data"]["details"]

    patches = version_patches(env)
    env.advance(minutes=3)
    sweep(timer())
    assert len(env.lifecycle_events("ReplicationFailed")) == 1, "published once"
    assert version_patches(env) == patches, "healing stopped: no more writes"
