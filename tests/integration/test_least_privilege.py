"""The app under exactly `permissions` for its policy: the full grant is enough for every kind of call,
and each single action taken away is reported (run report, audit log, log line, CLI exit 1) naming ARM's
action and scope, never a crash, and never a delete decided on a partial view."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import Any

import pytest

from lifecycle.cli import main
from lifecycle.gateways.storage import state_store
from lifecycle.permissions import derive
from lifecycle.policy import parse_policy
from lifecycle.reconcile import Trigger, reconcile
from lifecycle.settings import Settings
from tests.conftest import APP_TOKEN
from tests.harness.builders import image_template_body, scale_set_body
from tests.integration.conftest import GALLERY, GALLERY_ID, RG, SUB, Env

pytestmark = pytest.mark.integration

IMAGE = "app"
BUILD_RG = "rg-builds"
BUILDER = "providers/Microsoft.VirtualMachineImages/imageTemplates"
TEMPLATE = f"/subscriptions/{SUB}/resourceGroups/{BUILD_RG}/{BUILDER}/app"
POLICY = json.dumps(
    {
        "schema": 1,
        "defaults": {
            "replication": {"regions": {"eastus": 1, "westeurope": 1}},
            "retention": {"lifetime_days": 30, "keep_latest": 1, "delete_after_days": 10},
            "rebake": {"schedule": "0 4 * * *", "image_template": TEMPLATE},
        },
        "galleries": [{"id": GALLERY_ID}],
    }
)
GRANTS = derive(parse_policy(POLICY)).to_json()["assignments"]
# Taking these away leaves the app without a full view of versions, machines or the gallery's sharing:
# nothing may be deleted. (Without a write or a template action the view is whole: deletes due go ahead.)
PARTIAL_VIEW = {
    "Microsoft.Compute/galleries/read",
    "Microsoft.Compute/galleries/images/read",
    "Microsoft.Compute/galleries/images/versions/read",
    "Microsoft.Compute/galleries/images/versions/delete",
    "Microsoft.Compute/virtualMachines/read",
    "Microsoft.Compute/virtualMachineScaleSets/read",
    "Microsoft.Compute/virtualMachineScaleSets/virtualMachines/read",
}


def setup_fleet(env: Env) -> None:
    """After a first run has set end-of-life dates: 1.0.0 and 2.0.0 are due for deletion and in use by
    nothing, 3.0.0 (the newest, kept) lacks westeurope and an end-of-life, and a daily rebake is due:
    every granted action has a call to make."""
    env.put_policy(POLICY)
    env.create_image(IMAGE)
    builder = env.emulator.imagebuilder(SUB)
    body = image_template_body(SUB, BUILD_RG, f"{GALLERY_ID}/images/{IMAGE}")
    builder.virtual_machine_image_templates.begin_create_or_update(BUILD_RG, "app", body).result()
    start = env.now() - timedelta(days=60)
    env.emulator.set_time(start)
    env.create_version(IMAGE, "1.0.0")
    env.advance(days=5)
    env.create_version(IMAGE, "2.0.0")
    env.emulator.set_time(start + timedelta(days=10))
    first = reconcile(Trigger("sweep"), at=env.now())
    assert not first.failed, first.to_json()
    env.emulator.set_time(start + timedelta(days=50))
    env.create_version(IMAGE, "3.0.0")
    # A Uniform scale set on 3.0.0: the in-use check lists its instances too.
    newest = f"{GALLERY_ID}/images/{IMAGE}/versions/3.0.0"
    env.compute.virtual_machine_scale_sets.begin_create_or_update(
        RG, "web", scale_set_body(newest, capacity=1)
    ).result()
    env.emulator.set_time(start + timedelta(days=55))


def exists(env: Env, name: str) -> bool:
    return env.find_version(IMAGE, name) is not None


def apply(env: Env, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    code = main(["apply", "--config", env.config_url, "--at", env.now().isoformat(), "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_the_full_grant_is_enough_for_every_call(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    setup_fleet(env)

    code, report = apply(env, capsys)

    assert code == 0, report["errors"]
    assert env.emulator.rbac() == {"assignments": GRANTS, "principal": APP_TOKEN, "denied": 0}
    kinds = {o["kind"] for o in report["actions"]}
    assert {"replicate", "delete", "rebake"} <= kinds
    assert all(o["status"] == "succeeded" for o in report["outcomes"]), report["outcomes"]
    assert not exists(env, "1.0.0")


@pytest.mark.parametrize(
    ("scope", "action"),
    [(g["scope"], a) for g in GRANTS for a in g["actions"]],
    ids=[a.split("/", 1)[1] for g in GRANTS for a in g["actions"]],
)
def test_each_missing_action_is_reported_with_action_and_scope_and_nothing_is_deleted_on_doubt(
    env: Env, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture, scope: str, action: str
) -> None:
    setup_fleet(env)
    fewer = [
        {"scope": g["scope"], "actions": [a for a in g["actions"] if (g["scope"], a) != (scope, action)]}
        for g in GRANTS
    ]
    env.emulator.set_rbac(fewer, principal=APP_TOKEN)

    with caplog.at_level(logging.ERROR):
        code, report = apply(env, capsys)

    denial = f"does not have authorization to perform action '{action}' over scope '{scope}"
    texts = report["errors"] + [o.get("error") or "" for o in report["outcomes"]]
    assert code == 1
    assert env.emulator.rbac()["denied"] >= 1
    assert any(denial in t for t in texts), texts
    audit = state_store(Settings.from_env()).read_audit(env.now().date())
    assert any(denial in (r.get("error") or "") for r in audit), audit
    assert any(denial in r.getMessage() + str(getattr(r, "error", "")) for r in caplog.records)
    if action in PARTIAL_VIEW:
        assert exists(env, "1.0.0"), "deleted although the view was partial"


def test_a_denied_in_use_check_blocks_deletes_and_the_plan_says_why(
    env: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    setup_fleet(env)
    env.emulator.set_rbac([g for g in GRANTS if "/resourceGroups/" in g["scope"]], principal=APP_TOKEN)

    code = main(["plan", "--config", env.config_url, "--at", env.now().isoformat(), "--json"])
    report = json.loads(capsys.readouterr().out)

    assert code == 1
    notes = [
        n for i in report["images"] for v in i["versions"] if v["version"] == "1.0.0" for n in v["notes"]
    ]
    assert any(
        "in-use check unavailable" in n and "'Microsoft.Compute/virtualMachines/read'" in n for n in notes
    ), notes
    assert not [a for a in report["actions"] if a["kind"] == "delete"]
    assert exists(env, "1.0.0")


_ = (GALLERY, RG)
