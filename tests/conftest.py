"""Session fixtures: one ARM emulator and one Azurite for the whole run, reset between tests that ask."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.harness.services import Azurite, Emulator, start_azurite, start_emulator

REFERENCE = Path(__file__).resolve().parents[1].parent / "shared" / "reference"
EVENTS_DIR = Path(__file__).resolve().parent / "events"


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """`../shared/reference/` read in place; absent on a user's own clone."""
    if not REFERENCE.is_dir():
        pytest.skip(f"reference material not found at {REFERENCE} (it sits beside the clone in CI)")
    return REFERENCE


@pytest.fixture(scope="session")
def emulator_session() -> Iterator[Emulator]:
    emu = start_emulator("--replication-seconds", "60")
    try:
        yield emu
    finally:
        emu.stop()


@pytest.fixture()
def emulator(emulator_session: Emulator) -> Emulator:
    """The shared emulator, reset to empty (and its clock to now) before the test."""
    emulator_session.reset()
    return emulator_session


@pytest.fixture(scope="session")
def azurite() -> Iterator[Azurite]:
    service = start_azurite()
    try:
        yield service
    finally:
        service.stop()


# The app's bearer token: the emulator's RBAC binds it (and only it) to `permissions` of the test's policy,
# as ARM binds a role assignment to the app's identity. The harness sets fleets up through the SDK with its
# own token (emulator.launcher), which RBAC leaves unrestricted, like an administrator's.
APP_TOKEN = "lifecycle-app-token"


@pytest.fixture()
def arm_env(emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> Emulator:
    """Point the product's ARM settings at the emulator."""
    monkeypatch.setenv("LIFECYCLE_ARM_ENDPOINT", emulator.endpoint)
    monkeypatch.setenv("LIFECYCLE_ARM_CA_BUNDLE", emulator.ca_bundle)
    monkeypatch.setenv("LIFECYCLE_ARM_TOKEN", APP_TOKEN)
    return emulator


def grant_permissions(emulator: Emulator, policy_text: str | None) -> dict[str, Any]:
    """Load `python -m lifecycle permissions --json` of the policy into the emulator's RBAC, bound to the
    app's token; None grants nothing. Returns the document loaded."""
    from lifecycle.permissions import derive
    from lifecycle.policy import parse_policy

    assignments = derive(parse_policy(policy_text)).to_json()["assignments"] if policy_text else []
    emulator.set_rbac(assignments, principal=APP_TOKEN)
    return {"assignments": assignments, "principal": APP_TOKEN}


def compute_client(emulator: Emulator, subscription_id: str = "00000000-0000-0000-0000-000000000001") -> Any:
    """A real, unmodified ComputeManagementClient talking to the emulator over HTTPS."""
    return emulator.compute(subscription_id)


@pytest.fixture()
def compute(emulator: Emulator):  # type: ignore[no-untyped-def]
    return compute_client(emulator)


@pytest.fixture()
def blob_service(azurite: Azurite):  # type: ignore[no-untyped-def]
    from azure.storage.blob import BlobServiceClient

    return BlobServiceClient.from_connection_string(azurite.connection_string)


os.environ.setdefault("AZURE_CORE_ONLY_HTTPS", "0")
