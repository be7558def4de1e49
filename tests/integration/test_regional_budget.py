"""The write budget per subscription, region and operation, through the timer function: Compute refuses
westeurope's version writes (its window is full) and eastus's go ahead in the same sweep; westeurope's are
deferred, not failed, and done by a later sweep once its window slides."""

from __future__ import annotations

import json
from datetime import date

import pytest

from lifecycle import tags as lt
from lifecycle.gateways.storage import state_store
from lifecycle.settings import Settings
from tests.harness.builders import gallery_image_body
from tests.integration.conftest import GALLERY_ID, RG, SOURCE, SUB, Env
from tests.integration.host import handlers, timer

pytestmark = pytest.mark.integration
WEST = "golden-we"
WEST_ID = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Compute/galleries/{WEST}"
POLICY = "CreateUpdateGalleryImageVersion"


def west_version(env: Env, name: str) -> None:
    body = {
        "location": "westeurope",
        "properties": {
            "publishingProfile": {"targetRegions": [{"name": "westeurope", "regionalReplicaCount": 1}]},
            "storageProfile": {"osDiskImage": {"source": {"id": SOURCE}}},
        },
    }
    env.compute.gallery_image_versions.begin_create_or_update(RG, WEST, "web", name, body, polling=False)


def test_a_full_window_in_westeurope_defers_only_westeuropes_writes(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIFECYCLE_IMAGE_CONCURRENCY", "1")  # westeurope's image first, as listed
    env.compute.galleries.begin_create_or_update(RG, WEST, {"location": "westeurope"}).result()
    env.compute.gallery_images.begin_create_or_update(
        RG, WEST, "web", gallery_image_body("web", location="westeurope")
    ).result()
    env.create_image("api")
    env.put_policy(
        json.dumps(
            {
                "schema": 1,
                "mode": "enforce",
                "defaults": {"metadata": {"tags": {"owner": "platform"}}},
                "galleries": [
                    {"id": WEST_ID, "images": {"*": {}}},
                    {"id": GALLERY_ID, "images": {"*": {}}},
                ],
            }
        )
    )
    env.emulator.control("POST", "config", {"throttle": True, "compute_limits": {POLICY: [3, 100]}})
    for name in ("1.0.0", "1.1.0", "1.2.0"):
        west_version(env, name)  # westeurope's 3-minute window of the policy is now full
    env.create_version("api", "1.0.0")  # one of eastus's three
    env.advance(minutes=1)

    handlers(monkeypatch)["sweep"](timer())

    assert env.version("api", "1.0.0")["tags"][lt.STATE] == lt.STATE_ACTIVE
    west = env.compute.gallery_image_versions.get(RG, WEST, "web", "1.2.0")
    assert lt.STATE not in (west.tags or {})
    records = state_store(Settings.from_env()).read_audit(date.today())
    outcomes = {(r["target"].split("/")[8], r["outcome"]) for r in records if r.get("action") == "tag"}
    assert (WEST, "deferred") in outcomes and (WEST, "failed") not in outcomes
    assert ("golden", "succeeded") in outcomes

    env.advance(minutes=4)  # westeurope's 3-minute window slides
    env.emulator.control("POST", "config", {"compute_limits": {POLICY: [375, 1200]}})
    handlers(monkeypatch)["sweep"](timer())
    west = env.compute.gallery_image_versions.get(RG, WEST, "web", "1.2.0")
    assert (west.tags or {}).get(lt.STATE) == lt.STATE_ACTIVE
