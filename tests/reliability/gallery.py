"""Building galleries on the emulator through the real SDK for the reliability suites, and reading back
what matters of their versions in a form two galleries (or two moments) can be compared in."""

from __future__ import annotations

from typing import Any

from tests.harness.builders import gallery_image_body
from tests.integration.conftest import RG, SOURCE, Env

SUB = "00000000-0000-0000-0000-000000000001"


def gallery_id(name: str) -> str:
    return f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Compute/galleries/{name}"


def create_gallery(env: Env, name: str) -> None:
    env.compute.galleries.begin_create_or_update(RG, name, {"location": "eastus", "properties": {}}).result()


def create_image(env: Env, gallery: str, image: str) -> None:
    body = gallery_image_body(image)
    env.compute.gallery_images.begin_create_or_update(RG, gallery, image, body).result()


def create_version(env: Env, gallery: str, image: str, name: str) -> None:
    body = {
        "location": "eastus",
        "properties": {
            "publishingProfile": {"targetRegions": [{"name": "eastus", "regionalReplicaCount": 1}]},
            "storageProfile": {"osDiskImage": {"source": {"id": SOURCE}}},
        },
    }
    env.compute.gallery_image_versions.begin_create_or_update(RG, gallery, image, name, body, polling=False)


def versions(env: Env, gallery: str, image: str) -> dict[str, dict[str, Any]]:
    """Each version's comparable state: provisioning, regions, end-of-life date, latest flag, tags."""
    out: dict[str, dict[str, Any]] = {}
    operations = env.compute.gallery_image_versions
    for listed in operations.list_by_gallery_image(RG, gallery, image):
        body = operations.get(RG, gallery, image, listed.name).as_dict()
        properties = body.get("properties") or {}
        profile = properties.get("publishingProfile") or {}
        out[body["name"]] = {
            "state": properties.get("provisioningState"),
            "regions": sorted(
                (r["name"], r.get("regionalReplicaCount"), r.get("storageAccountType"))
                for r in profile.get("targetRegions") or []
            ),
            "eol": str(profile.get("endOfLifeDate") or "")[:10] or None,
            "exclude_from_latest": profile.get("excludeFromLatest"),
            "tags": dict(body.get("tags") or {}),
        }
    return out


def arm_writes(env: Env) -> int:
    return env.writes()
