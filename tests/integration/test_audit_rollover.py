"""The day's audit log moves on to a new append blob well before Azure's 50,000-block cap, and reading a
day reads every segment in order: the store against Azurite, and the app's handlers writing through it."""

from __future__ import annotations

import contextlib
import io
import json
import uuid
from typing import Any

import pytest

from lifecycle.cli import main as cli_main
from lifecycle.gateways.storage import APPEND_BLOB_MAX_BLOCKS, BlobStateStore
from lifecycle.settings import Settings
from lifecycle.triggers import handle_event
from tests.harness.host import worker_event
from tests.integration.conftest import GALLERY_ID, SUB, Env

pytestmark = pytest.mark.integration
VERSION_ID = f"{GALLERY_ID}/images/ubuntu-24.04/versions/1.0.0"
BUILDS = f"/subscriptions/{SUB}/resourceGroups/rg-ci/providers/Microsoft.EventGrid/topics/image-builds"
ROGUE = f"/subscriptions/{SUB}/resourceGroups/rg-dev/providers/Microsoft.EventGrid/topics/scratch"


def test_the_default_rollover_is_well_before_the_cap() -> None:
    settings = Settings.from_env({"LIFECYCLE_CONFIG_URL": "policy.yaml"})
    assert settings.audit_rollover_blocks <= APPEND_BLOB_MAX_BLOCKS * 0.8
    with pytest.raises(ValueError, match="LIFECYCLE_AUDIT_ROLLOVER_BLOCKS"):
        Settings.from_env({"LIFECYCLE_CONFIG_URL": "p", "LIFECYCLE_AUDIT_ROLLOVER_BLOCKS": "50000"})


def _blobs(env: Env, container: str, prefix: str) -> list[str]:
    client = env.blob_service.get_container_client(container)
    return sorted(b.name for b in client.list_blobs(name_starts_with=prefix))


def test_segments_roll_over_and_read_back_in_order(env: Env) -> None:
    container = f"audit-{uuid.uuid4().hex[:8]}"
    store = BlobStateStore(Settings.from_env(), f"{env.azurite.blob_endpoint}/{container}", rollover_blocks=3)
    day = env.now().date()
    for n in range(8):
        store.append_audit([{"n": n}], day=day)
    names = _blobs(env, container, "audit/")
    base = f"audit/{day:%Y/%m/%d}"
    assert names == sorted([f"{base}.jsonl", f"{base}.1.jsonl", f"{base}.2.jsonl"]), names
    blocks = [
        env.blob_service.get_blob_client(container, name)
        .get_blob_properties()
        .append_blob_committed_block_count
        for name in (f"{base}.jsonl", f"{base}.1.jsonl", f"{base}.2.jsonl")
    ]
    assert blocks == [3, 3, 2]
    # Another process (a new store) finds the current segment and goes on there.
    other = BlobStateStore(Settings.from_env(), f"{env.azurite.blob_endpoint}/{container}", rollover_blocks=3)
    other.append_audit([{"n": 8}], day=day)
    assert [r["n"] for r in other.read_audit(day)] == list(range(9))
    assert len(_blobs(env, container, "audit/")) == 3


def _event(topic: str, n: int) -> Any:
    payload = {
        "id": f"build-{n}",
        "topic": topic,
        "subject": VERSION_ID,
        "eventType": "ImageLifecycle.BuildCompleted",
        "eventTime": "2026-11-20T10:00:00Z",
        "dataVersion": "1",
        "data": {"imageVersionId": VERSION_ID, "buildId": f"b-{n}"},
    }
    return worker_event(payload)


def test_the_handlers_audit_across_segments(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIFECYCLE_AUDIT_ROLLOVER_BLOCKS", "2")
    env.put_policy(
        json.dumps(
            {
                "schema": 1,
                "defaults": {"replication": {"regions": {"eastus": 1}}},
                "galleries": [{"id": GALLERY_ID, "build_sources": [BUILDS]}],
            }
        )
    )
    env.create_image("ubuntu-24.04")
    # Each build event from an untrusted topic is refused and audited: one append, one block each.
    for n in range(5):
        handle_event(_event(ROGUE, n))
    container = env.state_url.rsplit("/", 1)[-1]
    assert len([n for n in _blobs(env, container, "audit/") if n.endswith(".jsonl")]) == 3
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        day = env.now().date().isoformat()
        code = cli_main(["audit", "--config", env.config_url, "--day", day, "--json"])
    assert code == 0
    rejected = [json.loads(line) for line in out.getvalue().splitlines()]
    ids = [r["event_id"] for r in rejected if r["action"] == "build_rejected"]
    assert ids == [f"build-{n}" for n in range(5)]
