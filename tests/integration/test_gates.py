"""Release gates end to end: approval (by tag, CLI and event), revocation down a family of images, and a
rebake when a Marketplace base image moves, through the real SDKs against the ARM emulator and Azurite."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from lifecycle import tags as lt
from lifecycle.cli import main as cli_main
from lifecycle.gateways.storage import state_store
from lifecycle.reconcile import Trigger, reconcile
from lifecycle.render import render_report
from lifecycle.settings import Settings
from lifecycle.triggers import handle_event
from tests.integration.conftest import GALLERY, GALLERY_ID, RG, SOURCE, SUB, Env

pytestmark = pytest.mark.integration
EVENTS = Path(__file__).resolve().parents[1] / "events"
TOPICS = f"/subscriptions/{SUB}/resourceGroups/rg-ci/providers/Microsoft.EventGrid/topics"
PIPELINE = f"{TOPICS}/builds"
APPROVERS = f"{TOPICS}/approvals"

APP = "app"
APP_ID = f"{GALLERY_ID}/images/{APP}"


def vid(image: str, name: str) -> str:
    return f"{GALLERY_ID}/images/{image}/versions/{name}"


def publish(
    env: Env, image: str, name: str, *, tags: dict[str, str] | None = None, excluded: bool = False
) -> None:
    """Publish a version through the SDK and let it finish replicating (60 virtual seconds)."""
    env.create_version(image, name, tags=tags or {}, publishing={"excludeFromLatest": excluded})
    env.advance(seconds=61)


def set_tags(env: Env, image: str, name: str, tags: dict[str, str]) -> None:
    current = env.version(image, name).get("tags") or {}
    env.compute.gallery_image_versions.begin_update(
        RG, GALLERY, image, name, {"tags": {**current, **tags}}, polling=False
    )
    env.advance(seconds=61)


def policy(
    images: dict[str, Any] | None = None,
    sources: list[str] | None = None,
    approvers: list[str] | None = None,
    **defaults: Any,
) -> str:
    sections: dict[str, Any] = {"replication": {"regions": {"eastus": 1}}, **defaults}
    gallery: dict[str, Any] = {"id": GALLERY_ID, "images": images or {"*": {}}}
    if sources is not None:
        gallery["build_sources"] = sources
    if approvers is not None:
        gallery["approval_sources"] = approvers
    return json.dumps({"schema": 1, "defaults": sections, "galleries": [gallery]})


def approval_event(version_id: str, topic: str, approver: str = "carol") -> dict[str, Any]:
    """An Event Grid-schema approval as delivered from `topic` (which Event Grid stamps)."""
    event = json.loads((EVENTS / "version_approved.eventgrid.json").read_text())
    event.update(topic=topic, subject=version_id, id=f"approval-{topic[-6:]}-{version_id[-5:]}")
    event["data"] = {"imageVersionId": version_id, "approver": approver}
    return event


def sweep(env: Env) -> Any:
    report = reconcile(Trigger("sweep"), at=env.now())
    assert not report.errors, report.errors
    return report


def settle(env: Env) -> Any:
    """One sweep, then let its writes finish."""
    report = sweep(env)
    env.advance(seconds=61)
    return report


def state_of(env: Env, image: str, name: str) -> tuple[str | None, bool, dict[str, str]]:
    body = env.version(image, name)
    tags = body.get("tags") or {}
    return tags.get(lt.STATE), bool(body["properties"]["publishingProfile"].get("excludeFromLatest")), tags


def audit(env: Env) -> list[dict[str, Any]]:
    """The audit of the emulator's day and the day before (a test may run across midnight UTC)."""
    store = state_store(Settings.from_env())
    today = env.now().date()
    return [*store.read_audit(today - timedelta(days=1)), *store.read_audit(today)]


# --- approval -----------------------------------------------------------------------------------------------


def test_approval_by_tag_holds_then_promotes_once_naming_the_approver(env: Env) -> None:
    env.put_policy(policy(approval={"required": True}))
    env.create_image(APP)
    publish(env, APP, "1.0.0")  # published straight into latest: taken out at once, and reported
    report = settle(env)
    assert any(
        "published into latest while approval is required" in w for p in report.plans for w in p.warnings
    )
    assert state_of(env, APP, "1.0.0")[:2] == (lt.STATE_PENDING_APPROVAL, True)
    assert settle(env).plans[0].actions == ()  # held: nothing more to do

    set_tags(env, APP, "1.0.0", {lt.APPROVED_BY: "alice"})
    settle(env)
    state, excluded, tags = state_of(env, APP, "1.0.0")
    assert (state, excluded, tags[lt.APPROVER]) == (lt.STATE_ACTIVE, False, "alice")
    promoted = env.lifecycle_events("VersionPromoted")
    assert [(e["subject"], e["data"]) for e in promoted] == [(vid(APP, "1.0.0"), {"approver": "alice"})]
    assert [e["data"] for e in env.lifecycle_events("VersionApproved")] == [{"approver": "alice"}]
    record = next(r for r in audit(env) if r["action"] == "promote")
    assert "approved by alice" in record["reason"] and record["after"]["approver"] == "alice"
    settle(env)
    assert len(env.lifecycle_events("VersionPromoted")) == 1  # promoted once


def test_approval_by_cli_and_refusals(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    env.put_policy(policy(approval={"required": True}, retention={"lifetime_days": 1, "keep_latest": 1}))
    env.create_image(APP)
    # The CLI runs on the wall clock: 1.0.0 is published three (virtual) days before it.
    now = env.now()
    env.emulator.set_time(now - timedelta(days=3))
    publish(env, APP, "1.0.0", excluded=True)
    env.emulator.set_time(now)
    publish(env, APP, "1.0.1", excluded=True)
    settle(env)
    assert state_of(env, APP, "1.0.0")[0] == lt.STATE_EXPIRED
    assert state_of(env, APP, "1.0.1")[:2] == (lt.STATE_PENDING_APPROVAL, True)

    writes = env.writes()
    bad = [
        (["approve", vid(APP, "1.0.0"), "--by", "bob"], "is expired"),
        (["approve", vid(APP, "9.9.9"), "--by", "bob"], "no such version"),
        (["approve", vid(APP, "1.0"), "--by", "bob"], "MAJOR.MINOR.PATCH"),
        (["approve", vid(APP, "1.0.1").replace(GALLERY, "other"), "--by", "bob"], "not in the policy"),
        (["approve", vid(APP, "1.0.1"), "--by", " "], "--by"),
    ]
    capsys.readouterr()
    for argv, message in bad:
        assert cli_main(argv) == 2, argv
        assert message in capsys.readouterr().err, argv
    assert env.writes() == writes  # refused: nothing written

    assert cli_main(["approve", vid(APP, "1.0.1"), "--by", "bob"]) == 0
    env.advance(seconds=61)
    state, excluded, tags = state_of(env, APP, "1.0.1")
    assert (state, excluded, tags[lt.APPROVER], tags[lt.APPROVED_BY]) == (
        lt.STATE_ACTIVE,
        False,
        "bob",
        "bob",
    )
    assert [e["data"] for e in env.lifecycle_events("VersionPromoted")] == [{"approver": "bob"}]


def test_approval_by_trusted_event_and_untrusted_refused(env: Env) -> None:
    env.put_policy(policy(sources=[PIPELINE], approvers=[APPROVERS], approval={"required": True}))
    env.create_image(APP)
    publish(env, APP, "1.0.0", excluded=True)
    publish(env, APP, "1.0.1", excluded=True)
    settle(env)
    writes = env.writes()

    report = handle_event(approval_event(vid(APP, "1.0.0"), PIPELINE, "mallory"))
    assert report is not None and report.rejected and not report.plans
    assert env.writes() == writes  # an untrusted approval changes nothing
    rejected = [r for r in audit(env) if r["outcome"] == "rejected"]
    assert [(r["action"], r["target"]) for r in rejected] == [("approve", vid(APP, "1.0.0"))]
    assert "a builder never approves its own build" in rejected[0]["reason"]

    report = handle_event(approval_event(vid(APP, "1.0.0"), APPROVERS, "carol"))
    assert report is not None and not report.failed, report.to_json()
    env.advance(seconds=61)
    state, excluded, tags = state_of(env, APP, "1.0.0")
    assert (state, excluded, tags[lt.APPROVER]) == (lt.STATE_ACTIVE, False, "carol")
    assert state_of(env, APP, "1.0.1")[:2] == (lt.STATE_PENDING_APPROVAL, True)
    assert [e["data"] for e in env.lifecycle_events("VersionPromoted")] == [{"approver": "carol"}]

    # An approval of an unknown version from a trusted sender is refused and audited, not retried.
    report = handle_event(approval_event(vid(APP, "7.0.0"), APPROVERS))
    assert report is not None and report.refused and not report.errors
    refused = [r for r in audit(env) if r["outcome"] == "rejected" and r["target"] == vid(APP, "7.0.0")]
    assert len(refused) == 1 and "no such version" in refused[0]["reason"]


def test_refusal_messages_name_the_value(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    env.put_policy(policy())
    env.create_image(APP)
    assert cli_main(["revoke", vid(APP, "3.0.0"), "--reason", "x"]) == 2
    assert f"{vid(APP, '3.0.0')}: no such version" in capsys.readouterr().err
    assert cli_main(["revoke", "/subscriptions/x/nonsense", "--reason", "x"]) == 2
    assert "'/subscriptions/x/nonsense'" in capsys.readouterr().err
    outside = vid(APP, "1.0.0").replace(f"/galleries/{GALLERY}/", "/galleries/elsewhere/")
    writes = env.writes()
    assert cli_main(["revoke", outside, "--reason", "x"]) == 2
    assert f"{outside}: not in the policy's scope" in capsys.readouterr().err
    assert cli_main(["revoke", vid(APP, "1.0.0"), "--reason", ""]) == 2
    assert "--reason ''" in capsys.readouterr().err
    assert env.writes() == writes


# --- revocation ---------------------------------------------------------------------------------------------


def family(env: Env, *, inherit: bool) -> None:
    """base 1.0.0 <- app 1.0.0 <- svc 1.0.0, each with a sibling version that stays healthy."""
    env.put_policy(policy(ancestry={"inherit_revocation": inherit}))
    for image in ("base", APP, "svc"):
        env.create_image(image)
    publish(env, "base", "1.0.0")
    publish(env, "base", "1.0.1")
    publish(env, APP, "1.0.0", tags={lt.BASE_IMAGE: vid("base", "1.0.0")})
    publish(env, APP, "1.0.1", tags={lt.BASE_IMAGE: vid("base", "1.0.1")})
    publish(env, "svc", "1.0.0", tags={lt.BASE_IMAGE: vid(APP, "1.0.0")})
    settle(env)


def test_revoking_the_root_revokes_the_whole_family_with_inheritance(env: Env) -> None:
    family(env, inherit=True)
    assert cli_main(["revoke", vid("base", "1.0.0"), "--reason", "CVE-2026-0001 in openssl"]) == 0
    env.advance(seconds=61)
    for image, parent in (("base", None), (APP, vid("base", "1.0.0")), ("svc", vid(APP, "1.0.0"))):
        state, excluded, tags = state_of(env, image, "1.0.0")
        assert (state, excluded) == (lt.STATE_REVOKED, True), image
        assert tags.get(lt.PARENT_REVOKED) == parent
    assert state_of(env, "base", "1.0.0")[2][lt.REVOKED_REASON] == "CVE-2026-0001 in openssl"
    assert state_of(env, APP, "1.0.1")[0] == lt.STATE_ACTIVE  # its sibling, on another base, untouched
    revoked = sorted(e["subject"] for e in env.lifecycle_events("VersionRevoked"))
    assert revoked == sorted([vid("base", "1.0.0"), vid(APP, "1.0.0"), vid("svc", "1.0.0")])
    excluded = [
        r for r in audit(env) if r["action"] == "exclude_from_latest" and r["reason"].startswith("revoked")
    ]
    assert len(excluded) == 3
    # Never promoted again, even when approved later, and the sweep leaves it be.
    set_tags(env, "svc", "1.0.0", {lt.APPROVED_BY: "alice"})
    settle(env)
    assert state_of(env, "svc", "1.0.0")[:2] == (lt.STATE_REVOKED, True)
    assert cli_main(["approve", vid("svc", "1.0.0"), "--by", "alice"]) == 2
    assert len(env.lifecycle_events("VersionRevoked")) == 3


def test_without_inheritance_descendants_are_only_tagged(env: Env) -> None:
    family(env, inherit=False)
    assert cli_main(["revoke", vid("base", "1.0.0"), "--reason", "bad base"]) == 0
    env.advance(seconds=61)
    assert state_of(env, "base", "1.0.0")[:2] == (lt.STATE_REVOKED, True)
    state, excluded, tags = state_of(env, APP, "1.0.0")
    assert (state, excluded, tags[lt.PARENT_REVOKED]) == (lt.STATE_ACTIVE, False, vid("base", "1.0.0"))
    assert lt.PARENT_REVOKED not in state_of(env, "svc", "1.0.0")[2]  # its parent is not revoked
    assert [e["subject"] for e in env.lifecycle_events("VersionRevoked")] == [vid("base", "1.0.0")]


def test_plan_shows_parent_and_children(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    family(env, inherit=False)
    report = reconcile(Trigger("cli"), plan_only=True).to_json()
    versions = {
        f"{image['image']}/versions/{v['version']}": v
        for image in report["images"]
        for v in image["versions"]
    }
    assert versions[vid(APP, "1.0.0")]["parent"] == vid("base", "1.0.0")
    assert versions[vid(APP, "1.0.0")]["children"] == [vid("svc", "1.0.0")]
    assert versions[vid("base", "1.0.0")]["children"] == [vid(APP, "1.0.0")]
    text = render_report(report)
    assert f"built on {GALLERY}/images/base/versions/1.0.0" in text
    assert f"base of {GALLERY}/images/svc/versions/1.0.0" in text


# --- base image rebakes -------------------------------------------------------------------------------------

MARKET = {"location": "eastus", "publisher": "Canonical", "offer": "ubuntu-24_04-lts", "sku": "server"}
URN = "Canonical:ubuntu-24_04-lts:server"
LIST_OPERATION = "GET Microsoft.Compute/locations/publishers/artifacttypes/offers/skus/versions"


def test_marketplace_base_moving_to_2024_10_10_triggers_exactly_one_rebake(env: Env) -> None:
    for version in ("2024.10.1", "2024.10.2", "2024.10.9"):
        env.emulator.control("POST", "marketplace", {**MARKET, "version": version})
    env.put_policy(policy(rebake={"on_base_update": True, "publish_event": True}))
    for image in (APP, "svc"):  # two images on the same base: one list call per sweep
        env.create_image(image)
        publish(env, image, "1.0.0", tags={lt.BASE_IMAGE: f"{URN}:2024.10.9"})
    settle(env)
    assert env.lifecycle_events("RebakeRequested") == []  # 2024.10.9 is the newest

    env.emulator.control("POST", "marketplace", {**MARKET, "version": "2024.10.10"})
    before = env.emulator.stats()["by_operation"].get(LIST_OPERATION, 0)
    settle(env)
    assert env.emulator.stats()["by_operation"][LIST_OPERATION] - before == 1
    requested = env.lifecycle_events("RebakeRequested")
    assert sorted(e["subject"] for e in requested) == sorted([APP_ID, f"{GALLERY_ID}/images/svc"])
    assert {e["data"]["reason"] for e in requested} == {
        f"base image updated: {URN}:2024.10.9 -> {URN}:2024.10.10"
    }
    for _ in range(3):  # exactly once: later sweeps ask for nothing more
        settle(env)
        env.advance(hours=6)
    assert len(env.lifecycle_events("RebakeRequested")) == 2
    # The rebuild lands on the new base: plan says so.
    publish(env, APP, "1.0.1", tags={lt.BASE_IMAGE: f"{URN}:2024.10.10"})
    rebake = next(p.rebake for p in sweep(env).plans if p.image.id == APP_ID)
    assert rebake is not None and rebake.reason == f"base image {URN}:2024.10.10 is current"


def test_unreadable_base_image_is_named_and_disturbs_nothing(env: Env) -> None:
    env.put_policy(policy(rebake={"on_base_update": True, "publish_event": True}))
    env.create_image(APP)
    publish(env, APP, "1.0.0", tags={lt.BASE_IMAGE: "Canonical:no-such-offer:server:1.0.0"})
    env.create_image("svc")
    publish(env, "svc", "1.0.0", tags={lt.BASE_IMAGE: "not-a-base"})
    env.create_image("web")
    publish(env, "web", "1.0.0", tags={lt.BASE_IMAGE: vid("no-such-image", "1.0.0")})
    report = settle(env)
    reasons = {p.image.image: p.rebake.reason for p in report.plans if p.rebake}
    assert f"{vid('no-such-image', '1.0.0').rsplit('/versions/', 1)[0]} not found" in reasons["web"]
    assert "Canonical:no-such-offer:server" in reasons[APP] and "not checked" in reasons[APP]
    assert "'not-a-base'" in reasons["svc"]
    assert env.lifecycle_events("RebakeRequested") == []
    assert all(state_of(env, image, "1.0.0")[0] == lt.STATE_ACTIVE for image in (APP, "svc", "web"))


def test_gallery_base_update_rebakes_once(env: Env) -> None:
    env.put_policy(
        policy(images={"base": {}, APP: {"rebake": {"on_base_update": True, "publish_event": True}}})
    )
    env.create_image("base")
    env.create_image(APP)
    publish(env, "base", "1.0.0")
    publish(env, APP, "1.0.0", tags={lt.BASE_IMAGE: vid("base", "1.0.0")})
    publish(env, "base", "1.1.0", excluded=True)  # not in latest: not a newer base yet
    settle(env)
    assert env.lifecycle_events("RebakeRequested") == []
    env.compute.gallery_image_versions.begin_update(
        RG,
        GALLERY,
        "base",
        "1.1.0",
        {
            "properties": {
                "publishingProfile": {"excludeFromLatest": False},
                "storageProfile": {"osDiskImage": {"source": {"id": SOURCE}}},
            }
        },
        polling=False,
    )
    env.advance(seconds=61)
    settle(env)
    settle(env)
    requested = env.lifecycle_events("RebakeRequested")
    assert [e["data"]["reason"] for e in requested] == [
        f"base image updated: {vid('base', '1.0.0')} -> {vid('base', '1.1.0')}"
    ]


def test_bad_subscription_in_base_is_not_read(env: Env) -> None:
    env.put_policy(policy(rebake={"on_base_update": True, "publish_event": True}))
    env.create_image(APP)
    outside = GALLERY_ID.replace(RG, "elsewhere") + "/images/i/versions/1.0.0"
    publish(env, APP, "1.0.0", tags={lt.BASE_IMAGE: outside})
    report = settle(env)
    assert "not in a gallery of the policy" in report.plans[0].rebake.reason


def test_denied_marketplace_read_is_an_error_naming_action_and_scope(env: Env) -> None:
    env.emulator.control("POST", "marketplace", {**MARKET, "version": "2024.10.1"})
    env.put_policy(policy(rebake={"on_base_update": True, "publish_event": True}))
    env.create_image(APP)
    publish(env, APP, "1.0.0", tags={lt.BASE_IMAGE: f"{URN}:2024.10.1"})
    action = "Microsoft.Compute/locations/publishers/artifacttypes/offers/skus/versions/read"
    assert env.grants is not None
    without = [{**a, "actions": [x for x in a["actions"] if x != action]} for a in env.grants["assignments"]]
    env.emulator.set_rbac(without, principal=env.grants["principal"])
    report = reconcile(Trigger("sweep"), at=env.now())
    assert any(action in e and "AuthorizationFailed" in e for e in report.errors), report.errors
    assert env.lifecycle_events("RebakeRequested") == []
    assert any(r["action"] == "error" and action in (r.get("error") or "") for r in audit(env))


def test_fanned_out_sweep_lists_a_shared_marketplace_base_once(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uuid

    from lifecycle.triggers import handle_queue_message
    from tests.harness.host import drain_one_by_one, fanout_queue

    name = f"gates-{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv("LIFECYCLE_FANOUT_QUEUE", name)
    for version in ("2024.10.1", "2024.10.10"):
        env.emulator.control("POST", "marketplace", {**MARKET, "version": version})
    env.put_policy(policy(rebake={"on_base_update": True, "publish_event": True}))
    for image in (APP, "svc", "web"):
        env.create_image(image)
        publish(env, image, "1.0.0", tags={lt.BASE_IMAGE: f"{URN}:2024.10.1"})
    before = env.emulator.stats()["by_operation"].get(LIST_OPERATION, 0)
    report = sweep(env)
    assert len(report.enqueued) == 3
    with fanout_queue(env.azurite.connection_string, name) as queue:
        drain_one_by_one(queue, handle_queue_message)
    assert env.emulator.stats()["by_operation"][LIST_OPERATION] - before == 1
    assert len(env.lifecycle_events("RebakeRequested")) == 3
