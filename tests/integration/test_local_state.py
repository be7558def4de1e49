"""The local-directory state store (development and the CLI with a policy file): the same contract as
the blob store: ETag conditions, exclusive leases, append-only audit, and reads that create nothing."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from lifecycle.gateways.errors import PreconditionFailed, RetryableError
from lifecycle.gateways.storage import LocalStateStore, state_store
from lifecycle.settings import Settings


def test_reads_create_nothing(tmp_path: Path) -> None:
    store = LocalStateStore(tmp_path / "state")
    assert store.read_json("images/x.json") == (None, None)
    assert store.read_audit(date(2026, 11, 23)) == []
    assert not (tmp_path / "state").exists()


def test_etag_conditions(tmp_path: Path) -> None:
    store = LocalStateStore(tmp_path)
    etag = store.write_json("images/a.json", {"n": 1}, etag=None)
    with pytest.raises(PreconditionFailed):
        store.write_json("images/a.json", {"n": 2}, etag=None)  # create-only: it exists
    new = store.write_json("images/a.json", {"n": 2}, etag=etag)
    with pytest.raises(PreconditionFailed):
        store.write_json("images/a.json", {"n": 3}, etag=etag)  # stale etag
    assert store.read_json("images/a.json") == ({"n": 2}, new)


def test_lease_is_exclusive_and_released(tmp_path: Path) -> None:
    store = LocalStateStore(tmp_path)
    with store.lease("image-1", 30):
        with pytest.raises(RetryableError, match="lease held"), store.lease("image-1", 30):
            pass
        with store.lease("image-2", 30):
            pass
    with store.lease("image-1", 30):
        pass


def test_audit_appends(tmp_path: Path) -> None:
    store = LocalStateStore(tmp_path)
    day = date(2026, 11, 23)
    store.append_audit([{"a": 1}], day=day)
    store.append_audit([{"a": 2}, {"a": 3}], day=day)
    assert [r["a"] for r in store.read_audit(day)] == [1, 2, 3]


def test_default_state_sits_beside_a_local_policy(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    store = state_store(Settings.from_env({"LIFECYCLE_CONFIG_URL": str(policy)}))
    assert isinstance(store, LocalStateStore)
    store.write_json("x.json", {}, etag=None)
    assert (tmp_path / ".lifecycle-state" / "x.json").exists()
