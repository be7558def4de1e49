"""Tags that never erase someone else's: the app's tags go through ARM's Tags API (Merge), its property
updates carry no tags, and a delete is made only after reading the version again. An operator's tag writes
race a sweep run through the timer function: whatever the operator set after the sweep's read survives, and
a hold set after the read keeps its version."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from azure.functions.timer import TimerRequest

from lifecycle import tags as lt
from lifecycle.gateways.gallery import GalleryGateway
from lifecycle.gateways.storage import state_store
from lifecycle.policy_store import clear_cache
from lifecycle.settings import Settings
from tests.integration.conftest import GALLERY, GALLERY_ID, RG, Env

pytestmark = pytest.mark.integration
IMAGE = "ubuntu-24.04"
RETENTION = {"lifetime_days": 30, "keep_latest": 1, "delete_after_days": 10, "max_deletes_per_run": 10}


def timer_sweep(monkeypatch: pytest.MonkeyPatch) -> Callable[[], None]:
    """The `sweep` function as the Functions host indexes it from function_app.py."""
    clear_cache()
    for name in ("function_app", "lifecycle.triggers"):
        monkeypatch.delitem(__import__("sys").modules, name, raising=False)
    app = importlib.import_module("function_app").app
    handler = {f.get_function_name(): f for f in app.get_functions()}["sweep"].get_user_function()
    return lambda: handler(TimerRequest(past_due=False))


def publish_in_the_past(env: Env, names: tuple[str, ...], days: int = 60) -> None:
    """Versions published `days` ago on the emulator's clock (end-of-life as the policy sets it), then the
    clock brought back to now: the timer function runs on the real clock."""
    now = datetime.now(UTC)
    env.emulator.set_time((now - timedelta(days=days)).isoformat())
    env.create_image(IMAGE)
    for name in names:
        eol = (env.now() + timedelta(days=RETENTION["lifetime_days"])).isoformat()
        env.create_version(IMAGE, name, publishing={"endOfLifeDate": eol})
    env.advance(hours=1)
    env.emulator.set_time(now.isoformat())


def read(env: Env, name: str) -> dict[str, Any] | None:
    return env.find_version(IMAGE, name)


def operator_tags(env: Env, name: str, **changes: str) -> None:
    """What an operator does in the portal: read the version's tags, add some, write them all back."""
    tags = dict(env.version(IMAGE, name).get("tags") or {})
    tags.update(changes)
    env.compute.gallery_image_versions.begin_update(RG, GALLERY, IMAGE, name, {"tags": tags}).result()


@pytest.fixture()
def racing_operator(env: Env, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Callable[[], None]]]:
    """Operator writes made right after the app has read the image, before any of its writes."""
    moves: list[Callable[[], None]] = []
    original = GalleryGateway.read_image

    def read_then_race(self: GalleryGateway, *args: Any, **kwargs: Any) -> Any:
        observed = original(self, *args, **kwargs)
        while moves:
            moves.pop(0)()
        return observed

    monkeypatch.setattr(GalleryGateway, "read_image", read_then_race)
    yield moves


def test_an_operators_tags_set_during_a_sweep_survive_and_a_late_hold_keeps_its_version(
    env: Env,
    policy_text: Callable[..., str],
    monkeypatch: pytest.MonkeyPatch,
    racing_operator: list[Callable[[], None]],
) -> None:
    env.put_policy(policy_text(retention=RETENTION, metadata={"tags": {"owner": "platform"}}))
    publish_in_the_past(env, ("1.0.0", "1.1.0", "2.0.0"))
    sweep = timer_sweep(monkeypatch)
    racing_operator.extend(
        [
            lambda: operator_tags(env, "1.0.0", **{lt.HOLD: "true"}),
            lambda: operator_tags(env, "2.0.0", **{"ticket": "CHG-1234"}),
        ]
    )
    stats = env.emulator.stats()["by_operation"]
    tag_writes_before = stats.get("PATCH Microsoft.Resources/tags", 0)

    sweep()

    kept, deleted, newest = read(env, "1.0.0"), read(env, "1.1.0"), read(env, "2.0.0")
    assert deleted is None, "the other expired version is deleted"
    assert kept is not None and kept["tags"][lt.HOLD] == "true", "held after the read: read again, kept"
    assert newest is not None
    assert newest["tags"]["ticket"] == "CHG-1234", "set after the sweep's read, not erased by its tags"
    assert newest["tags"][lt.STATE] == lt.STATE_ACTIVE and newest["tags"]["owner"] == "platform"
    assert env.emulator.stats()["by_operation"]["PATCH Microsoft.Resources/tags"] > tag_writes_before

    records = state_store(Settings.from_env()).read_audit(date.today())
    deletes = {r["target"].rsplit("/", 1)[-1]: r for r in records if r["action"] == "delete"}
    assert deletes["1.1.0"]["outcome"] == "succeeded"
    assert deletes["1.0.0"]["outcome"] == "deferred"
    assert "held by tag lifecycle.hold" in deletes["1.0.0"]["error"]
    deleted_events = [e["subject"] for e in env.emulator.events() if e["type"].endswith("VersionDeleted")]
    assert deleted_events == [f"{GALLERY_ID}/images/{IMAGE}/versions/1.1.0"]

    # The next sweep reads the hold and plans no delete of the held version at all.
    sweep()
    assert read(env, "1.0.0") is not None


def test_a_property_update_carries_no_tags(
    env: Env,
    policy_text: Callable[..., str],
    monkeypatch: pytest.MonkeyPatch,
    racing_operator: list[Callable[[], None]],
) -> None:
    """The version PATCH (regions here) has no `tags`: ARM would replace the whole set with the one the
    sweep read, and the operator's tag set after that read would be gone."""
    env.put_policy(policy_text(regions={"eastus": 1, "westeurope": 1}, metadata={"tags": {"owner": "x"}}))
    env.create_image(IMAGE)
    env.create_version(IMAGE, "1.0.0")
    env.advance(hours=1)
    racing_operator.append(lambda: operator_tags(env, "1.0.0", team="a"))
    timer_sweep(monkeypatch)()
    body = env.version(IMAGE, "1.0.0")
    regions = {t["name"] for t in body["properties"]["publishingProfile"]["targetRegions"]}
    assert regions == {"East US", "West Europe"}
    assert body["tags"]["team"] == "a" and body["tags"]["owner"] == "x"
    assert body["tags"][lt.STATE] == lt.STATE_ACTIVE
