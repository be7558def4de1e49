"""Per-image leases on real Azurite blobs: exclusive, renewed while a long reconcile runs, released after."""

from __future__ import annotations

import time
import uuid

import pytest

from lifecycle.gateways.errors import RetryableError
from lifecycle.gateways.storage import BlobStateStore, LocalStateStore
from lifecycle.settings import Settings
from tests.harness.services import Azurite

pytestmark = pytest.mark.integration
SECONDS = 15  # the shortest blob lease Azure grants


def blob_store(azurite: Azurite, container_url: str) -> BlobStateStore:
    settings = Settings.from_env(
        {
            "LIFECYCLE_CONFIG_URL": f"{azurite.blob_endpoint}/config/policy.yaml",
            "LIFECYCLE_STORAGE_CONNECTION_STRING": azurite.connection_string,
        }
    )
    return BlobStateStore(settings, container_url)


def test_blob_lease_is_renewed_while_held_and_released_after(azurite: Azurite) -> None:
    url = f"{azurite.blob_endpoint}/leases-{uuid.uuid4().hex[:8]}"
    store, other = blob_store(azurite, url), blob_store(azurite, url)  # two instances of the app
    with store.lease("image-a", SECONDS):
        time.sleep(SECONDS + 3)  # past the lease's own duration: only renewal keeps it
        with pytest.raises(RetryableError, match="lease held"), other.lease("image-a", SECONDS):
            pass
    with other.lease("image-a", SECONDS):
        pass


def test_local_lease_is_renewed_too(tmp_path) -> None:  # type: ignore[no-untyped-def]
    store = LocalStateStore(tmp_path)
    with store.lease("image-a", 6):
        time.sleep(8)  # past the lease's own duration: only renewal keeps it
        with pytest.raises(RetryableError, match="lease held"), LocalStateStore(tmp_path).lease("image-a", 6):
            pass
