"""An ambiguous answer is settled by reading: with every ARM write applied and answered 500 (the emulator's
`applied-500` fault), azure-core retries, the retries meet the changed versions (409 busy, 404 gone, or 500
again), and the sweep reads each version back: the writes count as succeeded and their events go out."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import pytest
from azure.core.exceptions import ResourceNotFoundError

from lifecycle import tags as lt
from lifecycle.gateways.storage import state_store
from lifecycle.settings import Settings
from tests.integration.conftest import GALLERY_ID, Env
from tests.integration.host import handlers, publish_in_the_past, timer

pytestmark = pytest.mark.integration
IMAGE = "ubuntu-24.04"
RETENTION = {"lifetime_days": 30, "keep_latest": 1, "delete_after_days": 10, "max_deletes_per_run": 10}


def vid(name: str) -> str:
    return f"{GALLERY_ID}/images/{IMAGE}/versions/{name}"


def test_writes_answered_500_after_taking_effect_succeed_and_announce(
    env: Env, policy_text: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    env.put_policy(policy_text(retention=RETENTION))
    env.create_image(IMAGE)
    publish_in_the_past(env, IMAGE, ("1.0.0", "2.0.0"), days=60)  # 1.0.0: past its grace period
    publish_in_the_past(env, IMAGE, ("1.5.0",), days=35)  # expired five days ago, not yet deletable
    functions = handlers(monkeypatch)
    env.emulator.control("POST", "faults", {"faults": "applied-500=1.0"})
    try:
        functions["sweep"](timer())
    finally:
        injected = env.emulator.control("GET", "faults")["injected"]["applied-500"]
        env.emulator.control("POST", "faults", {"faults": ""})
    assert injected >= 3, "every write was answered 500"

    with pytest.raises(ResourceNotFoundError):
        env.version(IMAGE, "1.0.0")
    expired = env.version(IMAGE, "1.5.0")
    assert expired["tags"][lt.STATE] == lt.STATE_EXPIRED
    assert expired["properties"]["publishingProfile"]["excludeFromLatest"] is True

    records = state_store(Settings.from_env()).read_audit(date.today())
    outcomes = {(r["target"].rsplit("/", 1)[-1], r["action"]): r["outcome"] for r in records if "key" in r}
    assert outcomes[("1.0.0", "delete")] == "succeeded"
    assert outcomes[("1.5.0", "exclude_from_latest")] == "succeeded"
    assert outcomes[("1.5.0", "tag")] == "succeeded"
    events = {(e["type"].removeprefix("ImageLifecycle."), e["subject"]) for e in env.emulator.events()}
    assert ("VersionDeleted", vid("1.0.0")) in events
    assert ("VersionExpired", vid("1.5.0")) in events

    # Nothing is left to do, and nothing is announced twice.
    functions["sweep"](timer())
    again = [e for e in env.emulator.events() if e["type"].endswith(("VersionDeleted", "VersionExpired"))]
    assert len(again) == 2


def test_a_write_refused_for_good_is_not_taken_for_done(
    env: Env, policy_text: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 403 is not ambiguous: nothing is re-read into success, and no event is sent for it."""
    text = policy_text(retention=RETENTION)
    env.put_policy(text)
    env.create_image(IMAGE)
    publish_in_the_past(env, IMAGE, ("1.5.0", "2.0.0"), days=35)
    grants = env.grants or {}
    without_tags = [
        {**a, "actions": [x for x in a["actions"] if x != "Microsoft.Resources/tags/write"]}
        for a in grants["assignments"]
    ]
    env.emulator.set_rbac(without_tags, principal=grants["principal"])
    handlers(monkeypatch)["sweep"](timer())
    records = state_store(Settings.from_env()).read_audit(date.today())
    tag = [r for r in records if r.get("action") == "tag" and r["target"] == vid("1.5.0")]
    assert tag and tag[-1]["outcome"] == "failed" and "AuthorizationFailed" in (tag[-1]["error"] or "")
    assert lt.STATE not in (env.version(IMAGE, "1.5.0").get("tags") or {})
