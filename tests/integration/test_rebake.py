"""Scheduled rebakes end to end: the real reconcile (and the real `python -m lifecycle` processes) against
the ARM emulator's Image Builder templates and Event Grid topic on its virtual clock, with Azurite holding
the policy, the state and the audit log.

Sweeps run every 12 virtual hours, as a (coarse) timer would: often enough to see every weekly fire time,
rarely enough to keep the file fast. A run takes 60 s of virtual time (the session emulator's
`--replication-seconds`), so it has ended by the next sweep.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from lifecycle.cli import main as cli_main
from lifecycle.gateways.storage import state_store
from lifecycle.model import iso, parse_time
from lifecycle.planning.rebake import MAX_FAILURES
from lifecycle.reconcile import Trigger, reconcile
from lifecycle.settings import Settings
from tests.harness.builders import image_template_body
from tests.integration.conftest import GALLERY_ID, RG, SUB, Env

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
RUN_OPERATION = "POST Microsoft.VirtualMachineImages/imageTemplates/run"
WEEKLY = "0 4 * * 1"  # Mondays 04:00 UTC
EVERY = timedelta(hours=12)
IMAGE = "ubuntu-24.04"
IMAGE_ID = f"{GALLERY_ID}/images/{IMAGE}"


def template_id(name: str) -> str:
    provider = "Microsoft.VirtualMachineImages/imageTemplates"
    return f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/{provider}/{name}"


def create_template(env: Env, name: str, tags: dict[str, str] | None = None) -> str:
    """An image template built through a real, unmodified ImageBuilderClient on the emulator."""
    client = env.emulator.imagebuilder(SUB)
    body = image_template_body(SUB, RG, IMAGE_ID, tags=tags)
    client.virtual_machine_image_templates.begin_create_or_update(RG, name, body).result()
    return template_id(name)


def runs(env: Env) -> int:
    return int(env.emulator.stats()["by_operation"].get(RUN_OPERATION, 0))


def received(env: Env, kind: str) -> list[dict[str, Any]]:
    return [e for e in env.emulator.events() if e["type"] == f"ImageLifecycle.{kind}"]


def a_thursday(env: Env) -> datetime:
    """Midnight of the first Thursday after the emulator's clock: the sweeps start mid-week."""
    day = (env.now() + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return day + timedelta(days=(3 - day.weekday()) % 7)


def setup_images(env: Env, policy: str, start: datetime, images: tuple[str, ...] = (IMAGE,)) -> None:
    """The policy, and each image with one version published at `start` (so nothing is due at once)."""
    env.put_policy(policy)
    env.emulator.set_time(start)
    for image in images:
        env.create_image(image)
        env.create_version(image, "1.0.0")


@dataclass
class Sweeps:
    triggers: list[datetime] = field(default_factory=list)  # sweep times that started a rebake
    failed: list[str] = field(default_factory=list)


def sweep(env: Env, start: datetime, end: datetime, down: tuple[datetime, datetime] | None = None) -> Sweeps:
    """Timer sweeps every EVERY from `start` until `end`, none while the app is down."""
    out = Sweeps()
    now = start
    while now < end:
        if down is None or not down[0] <= now < down[1]:
            env.emulator.set_time(now)
            report = reconcile(Trigger("sweep"), at=now)
            assert not report.errors and not report.skipped, report.to_json()
            rebakes = [o for o in report.outcomes if o.action.kind.value == "rebake"]
            out.triggers.extend(now for o in rebakes if o.status == "succeeded")
            out.failed.extend(o.error or "" for o in rebakes if o.status != "succeeded")
        now += EVERY
    return out


def audit_between(start: datetime, end: datetime) -> list[dict[str, Any]]:
    store = state_store(Settings.from_env())
    records: list[dict[str, Any]] = []
    day = start.date()
    while day <= end.date():
        records.extend(store.read_audit(day))
        day += timedelta(days=1)
    return records


def fire_times(start: datetime, weeks: int) -> list[datetime]:
    monday = start + timedelta(days=(0 - start.weekday()) % 7)
    return [monday.replace(hour=4) + timedelta(weeks=w) for w in range(weeks)]


# --- image_template: Image Builder runs ----------------------------------------------------------


def test_weekly_cron_over_five_weeks_gives_five_runs_each_audited(
    env: Env, policy_text: Callable[..., str]
) -> None:
    template = create_template(env, "weekly")
    start = a_thursday(env)
    setup_images(env, policy_text(rebake={"schedule": WEEKLY, "image_template": template}), start)

    result = sweep(env, start, start + timedelta(weeks=5))

    assert runs(env) == 5
    assert not result.failed
    # The first sweep after each Monday 04:00 fire time (the sweep at 12:00) starts the run.
    assert result.triggers == [t.replace(hour=12) for t in fire_times(start, 5)]
    audit = [r for r in audit_between(start, start + timedelta(weeks=5)) if r["action"] == "rebake"]
    assert [(r["time"], r["target"], r["outcome"], r["trigger"]) for r in audit] == [
        (iso(t), IMAGE_ID, "succeeded", "sweep") for t in result.triggers
    ]
    assert all(r["after"]["image_template"] == template for r in audit)
    assert [r["after"]["due"] for r in audit] == [iso(t) for t in fire_times(start, 5)]
    assert all(f"schedule '{WEEKLY}' fired at" in r["reason"] for r in audit)
    assert not received(env, "RebakeFailed")


def test_three_days_of_downtime_across_a_fire_time_give_one_catch_up_run(
    env: Env, policy_text: Callable[..., str]
) -> None:
    template = create_template(env, "catch-up")
    start = a_thursday(env)
    setup_images(env, policy_text(rebake={"schedule": WEEKLY, "image_template": template}), start)
    monday = fire_times(start, 1)[0]
    # Down from Saturday 12:00 to Tuesday 12:00: the Monday 04:00 fire time passes unseen.
    down = (monday - timedelta(days=1, hours=16), monday + timedelta(days=1, hours=8))

    result = sweep(env, start, start + timedelta(weeks=2), down=down)

    assert result.triggers == [down[1], monday.replace(hour=12) + timedelta(weeks=1)]
    assert runs(env) == 2


def test_two_apply_processes_at_the_same_moment_start_one_run(
    env: Env, policy_text: Callable[..., str]
) -> None:
    template = create_template(env, "raced")
    start = a_thursday(env)
    setup_images(env, policy_text(rebake={"schedule": WEEKLY, "image_template": template}), start)
    sweep(env, start, start + EVERY)  # the app has run before: the policy is accepted, the state exists
    at = fire_times(start, 1)[0] + timedelta(hours=1)
    env.emulator.set_time(at)

    cmd = [sys.executable, "-m", "lifecycle", "apply", "--config", env.config_url, "--at", iso(at), "--json"]
    child_env = dict(os.environ)  # the settings the `env` fixture set, as the app settings would be
    procs = [
        subprocess.Popen(
            cmd, cwd=ROOT, env=child_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]

    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, (out, err)
    reports = [json.loads(out) for out, _ in outputs]
    assert runs(env) == 1  # not even a refused second start reached Image Builder

    started = [
        r for r in reports if any(o["kind"] == "rebake" and o["status"] == "succeeded" for o in r["outcomes"])
    ]
    assert len(started) == 1
    loser = reports[1 - reports.index(started[0])]
    assert not any(o["kind"] == "rebake" for o in loser["outcomes"])
    # The loser says why it did not start a run: it found the image leased by the winner, lost the
    # ETag-conditioned claim, or (if it came second) saw the winner's run already in progress.
    why = " ".join(loser["skipped"]) + " ".join(
        (i["rebake"] or {}).get("reason", "") for i in loser["images"]
    )
    reasons = ("lease held", "rebake already triggered", f"run in progress since {iso(at)}")
    assert any(reason in why for reason in reasons), loser

    audit = [r for r in audit_between(at, at) if r["action"] == "rebake"]
    assert [(r["time"], r["target"], r["outcome"]) for r in audit] == [(iso(at), IMAGE_ID, "succeeded")]


def test_failing_runs_stop_after_three_and_rebake_failed_reaches_the_topic(
    env: Env, policy_text: Callable[..., str]
) -> None:
    template = create_template(env, "failing", tags={"emulator.runOutcome": "Failed"})
    start = a_thursday(env)
    setup_images(env, policy_text(rebake={"schedule": WEEKLY, "image_template": template}), start)

    result = sweep(env, start, start + timedelta(weeks=3))

    # One scheduled run, two retries, then halted through the next two fire times.
    assert runs(env) == MAX_FAILURES
    assert len(result.triggers) == MAX_FAILURES
    failed = received(env, "RebakeFailed")
    assert len(failed) == 1
    assert failed[0]["subject"] == IMAGE_ID
    data = failed[0]["data"]
    assert data["imageId"] == IMAGE_ID and data["imageTemplate"] == template
    assert data["failures"] == MAX_FAILURES
    assert "failed" in data["lastMessage"].lower()
    audit = [r for r in audit_between(start, start + timedelta(weeks=3)) if r["action"] == "rebake"]
    assert [r["time"] for r in audit] == [iso(t) for t in result.triggers]

    report = reconcile(Trigger("sweep"), plan_only=True, at=env.now())
    rebake = report.plans[0].rebake
    assert rebake is not None and not rebake.due
    assert f"halted after {MAX_FAILURES} failed runs" in rebake.reason


# --- publish_event: RebakeRequested for a pipeline -----------------------------------------------


def test_publish_event_delivers_one_rebake_requested_per_due_rebake(
    env: Env, policy_text: Callable[..., str]
) -> None:
    start = a_thursday(env)
    images = (IMAGE, "windows-2025")
    setup_images(env, policy_text(rebake={"schedule": WEEKLY, "publish_event": True}), start, images)

    result = sweep(env, start, start + timedelta(weeks=3))

    fires = fire_times(start, 3)
    assert len(result.triggers) == 3 * len(images)
    assert runs(env) == 0
    requested = received(env, "RebakeRequested")
    expected = sorted((f"{GALLERY_ID}/images/{image}", iso(fire)) for image in images for fire in fires)
    assert sorted((e["data"]["imageId"], e["data"]["due"]) for e in requested) == expected
    for event in requested:
        assert event["subject"] == event["data"]["imageId"]
        assert event["data"]["reason"] == f"schedule '{WEEKLY}' fired at {event['data']['due']}"
        assert event["specversion"] == "1.0"
    audit = [r for r in audit_between(start, start + timedelta(weeks=3)) if r["action"] == "rebake"]
    assert sorted((r["target"], r["after"]["due"]) for r in audit) == expected
    assert {r["outcome"] for r in audit} == {"succeeded"}
    assert all(r["after"]["publish_event"] is True for r in audit)


def test_an_undelivered_rebake_request_stays_due(
    env: Env, policy_text: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    start = a_thursday(env)
    setup_images(env, policy_text(rebake={"schedule": WEEKLY, "publish_event": True}), start)
    monday = fire_times(start, 1)[0] + timedelta(hours=8)
    env.emulator.set_time(monday)
    # A topic that cannot be reached: the request is not delivered.
    monkeypatch.setenv("LIFECYCLE_EVENTS_ENDPOINT", f"{env.emulator.endpoint}/api/no-such-topic")
    failed = reconcile(Trigger("sweep"), at=monday)
    (outcome,) = [o for o in failed.outcomes if o.action.kind.value == "rebake"]
    assert outcome.status == "failed" and "no-such-topic" in (outcome.error or "")
    assert received(env, "RebakeRequested") == []

    monkeypatch.setenv("LIFECYCLE_EVENTS_ENDPOINT", f"{env.emulator.endpoint}/api/events")
    later = monday + timedelta(hours=1)
    env.emulator.set_time(later)
    healed = reconcile(Trigger("sweep"), at=later)
    assert [o.status for o in healed.outcomes if o.action.kind.value == "rebake"] == ["succeeded"]
    assert len(received(env, "RebakeRequested")) == 1


# --- plan --------------------------------------------------------------------------------------------


def test_plan_shows_each_images_next_rebake_and_why(
    env: Env, policy_text: Callable[..., str], capsys: pytest.CaptureFixture[str]
) -> None:
    template = create_template(env, "planned")
    start = a_thursday(env)
    policy = json.loads(policy_text(rebake={"schedule": WEEKLY, "image_template": template}))
    # windows-2025 overrides the rebake section's keys: no schedule and no template, but a pipeline
    # rebuild once its newest version is 10 days old.
    policy["galleries"][0]["images"]["windows-2025"] = {
        "rebake": {"schedule": None, "image_template": None, "max_age_days": 10, "publish_event": True}
    }
    setup_images(env, json.dumps(policy), start, (IMAGE, "windows-2025"))
    windows_id = f"{GALLERY_ID}/images/windows-2025"
    monday = fire_times(start, 1)[0]
    env.emulator.set_time(start + timedelta(hours=1))

    def plan(at: datetime, *extra: str) -> str:
        code = cli_main(["plan", "--config", env.config_url, "--at", iso(at), *extra])
        assert code == 0
        return capsys.readouterr().out

    def rebake_lines(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
        return {i["image"]: i["rebake"] for i in report["images"]}

    before = rebake_lines(json.loads(plan(start + timedelta(hours=1), "--json")))
    assert before[IMAGE_ID] == {"due": False, "reason": f"schedule '{WEEKLY}'", "next": iso(monday)}
    windows = before[windows_id]
    published = parse_time(
        env.version("windows-2025", "1.0.0")["properties"]["publishingProfile"]["publishedDate"]
    )
    assert windows["due"] is False and windows["next"] == iso(published + timedelta(days=10))
    assert windows["reason"] == f"max age 10 days: newest version 1.0.0 published {iso(published)}"

    after = json.loads(plan(monday + timedelta(hours=2), "--json"))
    lines = rebake_lines(after)
    assert lines[IMAGE_ID]["due"] is True
    assert lines[IMAGE_ID]["reason"] == f"schedule '{WEEKLY}' fired at {iso(monday)}"
    assert lines[windows_id]["due"] is False and lines[windows_id]["next"] == windows["next"]
    rebakes = [a for a in after["actions"] if a["kind"] == "rebake"]
    assert [(a["target"], a["after"]["due"]) for a in rebakes] == [(IMAGE_ID, iso(monday))]

    table = plan(monday + timedelta(hours=2))
    rows = [line for line in table.splitlines() if "(rebake)" in line]
    assert len(rows) == 2
    ubuntu = next(r for r in rows if "images/ubuntu-24.04" in r)
    assert " due " in ubuntu and f"schedule '{WEEKLY}' fired at {iso(monday)}" in ubuntu
    windows_row = next(r for r in rows if "images/windows-2025" in r)
    assert "max age 10 days" in windows_row and f"next {windows['next']}" in windows_row
    assert runs(env) == 0 and not env.emulator.events()  # plan writes, starts and publishes nothing


def test_a_rebake_claimed_by_another_instance_meanwhile_is_not_started_again(
    env: Env, policy_text: Callable[..., str]
) -> None:
    """The ETag condition behind the lease: an instance whose lease expired mid-run claims the rebake
    and starts the run between this run's state read and its claim. This run stands down, says why,
    does not report a failure, and keeps the other instance's rebake memory."""
    from lifecycle.gateways.imagebuilder import ImageBuilderGateway
    from lifecycle.gateways.storage import BlobStateStore
    from lifecycle.reconcile import Runtime

    template = create_template(env, "claimed")
    start = a_thursday(env)
    setup_images(env, policy_text(rebake={"schedule": WEEKLY, "image_template": template}), start)
    sweep(env, start, start + EVERY)
    at = fire_times(start, 1)[0] + timedelta(hours=1)
    env.emulator.set_time(at)
    runtime = Runtime.from_settings(Settings.from_env())
    real = runtime.store
    assert isinstance(real, BlobStateStore)
    other: dict[str, Any] = {}
    claimed: list[str] = []

    class RacedStore:
        """The real state store, with the other instance's claim landing just before this one's."""

        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

        def write_json(self, name: str, document: dict[str, Any], *, etag: str | None) -> str:
            if name.startswith("images/") and not other:
                claimed.append(name)
                other.update(document, rebake={**document["rebake"], "run_id": "other-instance"})
                real.write_json(name, other, etag=etag)
                ImageBuilderGateway(Settings.from_env()).start_run(template)
            return real.write_json(name, document, etag=etag)

    runtime.store = RacedStore()  # type: ignore[assignment]
    report = reconcile(Trigger("sweep"), runtime=runtime, at=at)

    assert runs(env) == 1
    assert not any(o.action.kind.value == "rebake" for o in report.outcomes)
    assert any("rebake already triggered by another run" in s for s in report.skipped), report.skipped
    assert not report.failed, report.errors
    saved, _ = real.read_json(claimed[0])
    assert saved is not None and saved["rebake"]["run_id"] == "other-instance"
