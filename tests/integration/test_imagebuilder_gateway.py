"""The Image Builder gateway through the real azure-mgmt-imagebuilder client, over HTTPS, against the ARM
emulator's imageTemplates (`lastRunStatus`, `POST .../run` taking `--replication-seconds` of virtual time),
and the rebake planner driven by it on the emulator's virtual clock."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from lifecycle.gateways.errors import NotFoundError, PermanentError, RetryableError
from lifecycle.gateways.imagebuilder import ImageBuilderGateway
from lifecycle.gateways.publisher import EventGridPublisher
from lifecycle.model import ImageRef, ObservedImage, ObservedVersion
from lifecycle.notifications import Notification, NotificationType
from lifecycle.planning.rebake import MAX_FAILURES, plan_rebake
from lifecycle.policy import Rebake
from lifecycle.settings import Settings
from lifecycle.state import RebakeState
from tests.conftest import grant_permissions
from tests.harness.builders import image_template_body
from tests.harness.services import Emulator

pytestmark = pytest.mark.integration

SUB = "00000000-0000-0000-0000-000000000001"
RG = "rg-images"
IMAGE = ImageRef(SUB, RG, "golden", "ubuntu-24.04")
RUN_OPERATION = "POST Microsoft.VirtualMachineImages/imageTemplates/run"
RUN_SECONDS = 60  # the session emulator's --replication-seconds


def template_id(name: str) -> str:
    provider = "Microsoft.VirtualMachineImages/imageTemplates"
    return f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/{provider}/{name}"


@pytest.fixture()
def builder(arm_env: Emulator) -> Any:
    """A real, unmodified ImageBuilderClient on the emulator, for setting templates up."""
    return arm_env.imagebuilder(SUB)


@pytest.fixture()
def gateway(
    arm_env: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ImageBuilderGateway]:
    policy = tmp_path / "policy.yaml"
    policy.write_text("schema: 1\n")
    # The gateway runs under what `permissions` grants a policy rebaking from a template in this group.
    rebake = {"rebake": {"max_age_days": 1, "image_template": template_id("any")}}
    grant_permissions(
        arm_env, json.dumps({"schema": 1, "defaults": rebake, "galleries": [{"id": IMAGE.gallery_ref.id}]})
    )
    monkeypatch.setenv("LIFECYCLE_CONFIG_URL", str(policy))
    yield ImageBuilderGateway(Settings.from_env())


def create_template(builder: Any, name: str, tags: dict[str, str] | None = None) -> str:
    body = image_template_body(SUB, RG, IMAGE.id, tags=tags)
    builder.virtual_machine_image_templates.begin_create_or_update(RG, name, body).result()
    return template_id(name)


def runs(emulator: Emulator) -> int:
    return int(emulator.stats()["by_operation"].get(RUN_OPERATION, 0))


# --- the gateway ------------------------------------------------------------------------------------


def test_a_template_that_never_ran_has_no_run_status(builder: Any, gateway: ImageBuilderGateway) -> None:
    template = create_template(builder, "never-ran")
    run = gateway.last_run(template)
    assert run.state is None and run.kind == "never"


def test_a_started_run_is_observed_running_then_succeeded(
    arm_env: Emulator, builder: Any, gateway: ImageBuilderGateway
) -> None:
    template = create_template(builder, "ubuntu")
    start = datetime(2026, 3, 2, 4, 0, tzinfo=UTC)
    arm_env.set_time(start)

    gateway.start_run(template)  # returns at once: the run takes RUN_SECONDS of virtual time

    running = gateway.last_run(template)
    assert running.state == "Running" and running.kind == "active"
    assert running.started is not None and abs(running.started - start) < timedelta(seconds=30)
    assert running.ended is None
    assert running.sub_state

    # A second start while the first runs is refused by Image Builder: a retryable error, not a second run.
    with pytest.raises(RetryableError) as refused:
        gateway.start_run(template)
    assert refused.value.status == 409
    assert runs(arm_env) == 2  # the accepted one and the refused one reached ARM

    arm_env.set_time(start + timedelta(seconds=RUN_SECONDS + 30))
    done = gateway.last_run(template)
    assert done.state == "Succeeded" and done.kind == "succeeded"
    assert done.started == running.started
    assert done.ended is not None and done.ended > done.started  # type: ignore[operator]
    assert done.marker != running.marker


def test_a_failing_template_reports_failed_with_its_message(
    arm_env: Emulator, builder: Any, gateway: ImageBuilderGateway
) -> None:
    template = create_template(builder, "broken", tags={"emulator.runOutcome": "Failed"})
    start = datetime(2026, 3, 2, 4, 0, tzinfo=UTC)
    arm_env.set_time(start)
    gateway.start_run(template)
    arm_env.set_time(start + timedelta(seconds=RUN_SECONDS + 30))

    run = gateway.last_run(template)
    assert run.state == "Failed" and run.kind == "failed"
    assert run.message and "failed" in run.message.lower()


def test_a_missing_template_is_a_permanent_error_naming_it(gateway: ImageBuilderGateway) -> None:
    missing = template_id("does-not-exist")
    with pytest.raises(NotFoundError) as read:
        gateway.last_run(missing)
    assert missing in str(read.value)
    with pytest.raises(NotFoundError) as start:
        gateway.start_run(missing)
    assert missing in str(start.value)


def test_a_malformed_template_id_is_refused_before_any_call(
    arm_env: Emulator, gateway: ImageBuilderGateway
) -> None:
    before = arm_env.stats()["by_method"]
    with pytest.raises(PermanentError, match="not an Image Builder template id"):
        gateway.last_run("/subscriptions/x/resourceGroups/y/providers/Microsoft.Compute/galleries/z")
    assert arm_env.stats()["by_method"] == before


# --- the planner on the emulator's clock ------------------------------------------------------------


def sweep_weeks(
    emulator: Emulator,
    gateway: ImageBuilderGateway,
    rules: Rebake,
    start: datetime,
    weeks: int,
    *,
    every: timedelta = timedelta(hours=6),
    down: tuple[datetime, datetime] | None = None,
) -> tuple[RebakeState, list[Notification], list[datetime]]:
    """Sweeps as the timer would run them: observe the template, plan, start what the plan says."""
    observed = ObservedImage(
        ref=IMAGE,
        location="eastus",
        versions=(ObservedVersion(ref=IMAGE.version("1.0.0"), location="eastus", published=start),),
    )
    assert rules.image_template is not None
    state, notifications, triggers = RebakeState(), [], []
    now = start
    while now < start + timedelta(weeks=weeks):
        if down is None or not down[0] <= now < down[1]:
            emulator.set_time(now)
            run = gateway.last_run(rules.image_template)
            decision = plan_rebake(rules, observed, state, now, policy_digest="p1", run=run)
            notifications.extend(decision.notifications)
            for _action in decision.actions:
                gateway.start_run(rules.image_template)
                triggers.append(now)
            state = RebakeState.from_json(decision.state.to_json())
        now += every
    return state, notifications, triggers


def test_weekly_cron_over_five_weeks_runs_five_times(
    arm_env: Emulator, builder: Any, gateway: ImageBuilderGateway
) -> None:
    template = create_template(builder, "weekly")
    rules = Rebake(schedule="0 4 * * 1", image_template=template)
    start = datetime(2026, 1, 1, tzinfo=UTC)  # a Thursday

    state, notifications, triggers = sweep_weeks(arm_env, gateway, rules, start, 5)

    assert runs(arm_env) == 5
    assert [t.strftime("%a %H:%M") for t in triggers] == ["Mon 06:00"] * 5
    assert state.consecutive_failures == 0 and not notifications


def test_downtime_across_one_fire_time_gives_one_catch_up_run(
    arm_env: Emulator, builder: Any, gateway: ImageBuilderGateway
) -> None:
    template = create_template(builder, "catch-up")
    rules = Rebake(schedule="0 4 * * 1", image_template=template)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    down = (datetime(2026, 1, 4, 12, tzinfo=UTC), datetime(2026, 1, 7, 12, tzinfo=UTC))

    _, _, triggers = sweep_weeks(arm_env, gateway, rules, start, 2, down=down)

    assert triggers == [down[1], datetime(2026, 1, 12, 6, tzinfo=UTC)]
    assert runs(arm_env) == 2


def test_failing_runs_halt_after_three_and_rebake_failed_reaches_the_topic(
    arm_env: Emulator, builder: Any, gateway: ImageBuilderGateway
) -> None:
    template = create_template(builder, "failing", tags={"emulator.runOutcome": "Failed"})
    rules = Rebake(schedule="0 4 * * 1", image_template=template)

    state, notifications, _ = sweep_weeks(arm_env, gateway, rules, datetime(2026, 1, 1, tzinfo=UTC), 5)

    assert runs(arm_env) == MAX_FAILURES
    assert state.halted and state.consecutive_failures == MAX_FAILURES
    assert [n.type for n in notifications] == [NotificationType.REBAKE_FAILED]
    EventGridPublisher(
        f"{arm_env.endpoint}/api/events", key="emulator-topic-key", ca_bundle=arm_env.ca_bundle
    ).publish(notifications)
    received = [r.get("event", r) for r in arm_env.events()]
    assert [(e["type"], e["subject"]) for e in received] == [("ImageLifecycle.RebakeFailed", IMAGE.id)]
    assert received[0]["data"]["failures"] == MAX_FAILURES
    assert "failed" in received[0]["data"]["lastMessage"].lower()
