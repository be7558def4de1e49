"""Integration fixtures: the product's settings pointed at the ARM emulator and Azurite, a sample gallery
built through the real SDK, and the policy uploaded as a blob."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from azure.core.exceptions import ResourceNotFoundError

from lifecycle.gateways.storage import state_store
from lifecycle.policy import PolicyError, parse_policy
from lifecycle.policy_store import clear_cache
from lifecycle.settings import Settings
from tests.conftest import grant_permissions
from tests.harness.builders import gallery_image_body
from tests.harness.services import Azurite, Emulator

SUB = "00000000-0000-0000-0000-000000000001"
RG = "rg-images"
GALLERY = "golden"
GALLERY_ID = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Compute/galleries/{GALLERY}"
SOURCE = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Compute/snapshots/os-disk"
EVENTS_KEY = "test-topic-key"


@dataclass
class Env:
    emulator: Emulator
    azurite: Azurite
    compute: Any
    config_url: str
    state_url: str
    blob_service: Any
    grants: dict[str, Any] | None = None

    def put_policy(self, text: str) -> None:
        """Upload the policy, and run the app under exactly its `permissions`: a call the derivation
        misses gets 403. A rejected policy leaves the last accepted one (and its grants) in force."""
        try:
            parse_policy(text)
        except PolicyError:
            pass
        else:
            self.grants = grant_permissions(self.emulator, text)
        container, blob = self.config_url.split("/")[-2:]
        client = self.blob_service.get_container_client(container)
        if not client.exists():
            client.create_container()
        client.upload_blob(blob, text.encode(), overwrite=True)

    def state_container(self) -> Any:
        """The Blob container client of the app's state (LIFECYCLE_STATE_URL)."""
        return self.blob_service.get_container_client(self.state_url.rsplit("/", 1)[-1])

    def now(self) -> datetime:
        return self.emulator.now()

    def advance(self, **delta: float) -> datetime:
        target = self.now() + timedelta(**delta)
        self.emulator.set_time(target.isoformat())
        return target

    def writes(self) -> int:
        """ARM writes so far (events posted to the topic are not ARM writes)."""
        operations = self.emulator.stats()["by_operation"]
        return sum(
            n
            for key, n in operations.items()
            if key.split()[0] in ("PUT", "PATCH", "DELETE", "POST")
            and key.split()[1].startswith("Microsoft.")
            and not key.split()[1].startswith("Microsoft.EventGrid")
        )

    def create_version(
        self,
        image: str,
        name: str,
        regions: dict[str, int] | None = None,
        *,
        tags: dict[str, str] | None = None,
        **props: Any,
    ) -> None:
        """Start the creation of a version in East US: `regions` {name: replicas} (East US alone when
        None), `publishing` merged into its publishingProfile (a `targetRegions` there replaces the
        regions), any other keyword a property of its own."""
        body: dict[str, Any] = {
            "location": "eastus",
            "properties": {
                "publishingProfile": {
                    "targetRegions": [
                        {"name": region, "regionalReplicaCount": count}
                        for region, count in (regions or {"eastus": 1}).items()
                    ],
                    **props.pop("publishing", {}),
                },
                "storageProfile": {"osDiskImage": {"source": {"id": SOURCE}}},
                **props,
            },
        }
        if tags is not None:
            body["tags"] = tags
        self.compute.gallery_image_versions.begin_create_or_update(
            RG, GALLERY, image, name, body, polling=False
        )

    def create_image(self, image: str) -> None:
        body = gallery_image_body(image)
        self.compute.gallery_images.begin_create_or_update(RG, GALLERY, image, body).result()

    def version(self, image: str, name: str) -> dict[str, Any]:
        result = self.compute.gallery_image_versions.get(RG, GALLERY, image, name, expand="ReplicationStatus")
        return dict(result.as_dict()) if hasattr(result, "as_dict") else dict(result)

    def audit(self) -> list[dict[str, Any]]:
        """The app's audit records of the emulator's day and of today (UTC), oldest day first."""
        store = state_store(Settings.from_env())
        days = {self.now().date(), datetime.now(UTC).date()}
        return [r for day in sorted(days) for r in store.read_audit(day)]

    def lifecycle_events(self, kind: str) -> list[dict[str, Any]]:
        """The events of type `ImageLifecycle.<kind>` the emulator's topic received."""
        return [e for e in self.emulator.events() if e["type"] == f"ImageLifecycle.{kind}"]

    def find_version(self, image: str, name: str) -> dict[str, Any] | None:
        """The version as `version` reads it, or None when ARM answers that it does not exist."""
        try:
            return self.version(image, name)
        except ResourceNotFoundError:
            return None


@contextlib.contextmanager
def build_env(emulator: Emulator, azurite: Azurite, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    """The product's settings pointed at this emulator and Azurite, fresh containers, the sample gallery."""
    from azure.storage.blob import BlobServiceClient

    from tests.conftest import APP_TOKEN, compute_client

    run = uuid.uuid4().hex[:10]
    config_url = f"{azurite.blob_endpoint}/config-{run}/policy.yaml"
    state_url = f"{azurite.blob_endpoint}/state-{run}"
    monkeypatch.setenv("LIFECYCLE_ARM_ENDPOINT", emulator.endpoint)
    monkeypatch.setenv("LIFECYCLE_ARM_CA_BUNDLE", emulator.ca_bundle)
    monkeypatch.setenv("LIFECYCLE_ARM_TOKEN", APP_TOKEN)
    monkeypatch.setenv("LIFECYCLE_CONFIG_URL", config_url)
    monkeypatch.setenv("LIFECYCLE_STATE_URL", state_url)
    monkeypatch.setenv("LIFECYCLE_STORAGE_CONNECTION_STRING", azurite.connection_string)
    monkeypatch.setenv("LIFECYCLE_EVENTS_ENDPOINT", f"{emulator.endpoint}/api/events")
    monkeypatch.setenv("LIFECYCLE_EVENTS_KEY", EVENTS_KEY)
    clear_cache()
    compute = compute_client(emulator)
    compute.galleries.begin_create_or_update(RG, GALLERY, {"location": "eastus", "properties": {}}).result()
    grant_permissions(emulator, None)  # until a policy is uploaded the app may do nothing in ARM
    blob_service = BlobServiceClient.from_connection_string(azurite.connection_string)
    try:
        yield Env(emulator, azurite, compute, config_url, state_url, blob_service)
    finally:
        clear_cache()


@pytest.fixture()
def env(arm_env: Emulator, azurite: Azurite, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    with build_env(arm_env, azurite, monkeypatch) as built:
        yield built


def make_policy_text(regions: dict[str, int] | None = None, mode: str = "enforce", **sections: Any) -> str:
    """A policy for the sample gallery: every image, these regions, and any other default sections."""
    defaults: dict[str, Any] = {"replication": {"regions": regions or {"eastus": 1}}}
    defaults.update(sections)
    return json.dumps(
        {
            "schema": 1,
            "mode": mode,
            "defaults": defaults,
            "galleries": [{"id": GALLERY_ID, "images": {"*": {}}}],
        }
    )


@pytest.fixture()
def policy_text() -> Callable[..., str]:
    return make_policy_text
