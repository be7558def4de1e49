"""Decision tables and simulated weeks for the rebake planner (pure: no I/O, the clock is a parameter).

The simulations call `plan_rebake` once per sweep, feed its state back (through JSON, as the state
container does) and play Image Builder with a small in-memory template whose runs take a set time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import pytest

from lifecycle.actions import ActionKind
from lifecycle.model import ObservedImage, ProvisioningState, iso
from lifecycle.notifications import Notification, NotificationType
from lifecycle.planning import plan_image
from lifecycle.planning.rebake import (
    MAX_FAILURES,
    RETRY_DELAY,
    START_GRACE,
    STATUS_TIMEOUT,
    RebakeDecision,
    RunObservation,
    plan_rebake,
)
from lifecycle.policy import Rebake
from lifecycle.state import ImageState, RebakeState
from tests.unit.builders import IMAGE, SUB, T0, days, image, policy, version

TEMPLATE = (
    f"/subscriptions/{SUB}/resourceGroups/rg-images/providers/Microsoft.VirtualMachineImages"
    "/imageTemplates/ubuntu-24.04"
)
WEEKLY = "0 4 * * 1"  # Mondays 04:00 UTC; T0 (2026-01-01) is a Thursday
DIGEST = "digest-1"
SWEEP = timedelta(minutes=15)


def rebake(**kwargs: Any) -> Rebake:
    if not kwargs.get("publish_event"):
        kwargs.setdefault("image_template", TEMPLATE)
    return Rebake(**kwargs)


def at(text: str) -> datetime:
    from lifecycle.model import parse_time

    return parse_time(text)


@dataclass
class Template:
    """Image Builder as the planner sees it: one lastRunStatus, runs that take `duration`."""

    duration: timedelta = timedelta(minutes=60)
    outcome: str = "Succeeded"  # of runs started from now on
    runs: list[tuple[datetime, datetime, str]] = field(default_factory=list)

    def start(self, now: datetime) -> None:
        assert self.observe(now).state != "Running", "a run was started while one is running"
        self.runs.append((now, now + self.duration, self.outcome))

    def observe(self, now: datetime) -> RunObservation:
        if not self.runs:
            return RunObservation(state=None)
        started, ends, outcome = self.runs[-1]
        if now < ends:
            return RunObservation("Running", started, None, None, "Building")
        message = "customizer failed: exit 1" if outcome == "Failed" else None
        return RunObservation(outcome, started, ends, message)


@dataclass
class Simulation:
    triggers: list[datetime] = field(default_factory=list)
    decisions: list[RebakeDecision] = field(default_factory=list)
    notifications: list[Notification] = field(default_factory=list)
    state: RebakeState = field(default_factory=RebakeState)

    def of(self, kind: NotificationType) -> list[Notification]:
        return [n for n in self.notifications if n.type is kind]


def simulate(
    rules: Rebake,
    start: datetime,
    end: datetime,
    *,
    step: timedelta = SWEEP,
    template: Template | None = None,
    observed: ObservedImage | None = None,
    down: Sequence[tuple[datetime, datetime]] = (),
    state: RebakeState | None = None,
    digest: str = DIGEST,
    new_version_after_run: bool = False,
) -> Simulation:
    sim = Simulation(state=state or RebakeState())
    observed = observed or image(version("1.0.0", published=start))
    t = start
    while t < end:
        if not any(a <= t < b for a, b in down):
            run = template.observe(t) if template is not None else None
            decision = plan_rebake(rules, observed, sim.state, t, policy_digest=digest, run=run)
            sim.decisions.append(decision)
            sim.notifications.extend(decision.notifications)
            for action in decision.actions:
                assert action.kind is ActionKind.REBAKE
                sim.triggers.append(t)
                sim.notifications.extend(action.notifications)
                if template is not None:
                    template.start(t)
                if new_version_after_run:
                    name = f"1.0.{len(sim.triggers)}"
                    observed = image(*observed.versions, version(name, published=t + timedelta(hours=1)))
            # Round-trip through JSON exactly as the state container stores it.
            sim.state = RebakeState.from_json(decision.state.to_json())
        t += step
    return sim


# --- schedule ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("step", "duration"),
    [
        (timedelta(minutes=15), timedelta(minutes=1)),
        (timedelta(minutes=15), timedelta(hours=3)),
        (timedelta(hours=1), timedelta(minutes=1)),
        (timedelta(minutes=20), timedelta(hours=20)),
    ],
    ids=["sweep-15m-run-1m", "sweep-15m-run-3h", "sweep-1h-run-1m", "sweep-20m-run-20h"],
)
def test_weekly_cron_over_five_weeks_triggers_exactly_five_runs(step: timedelta, duration: timedelta) -> None:
    template = Template(duration=duration)
    sim = simulate(rebake(schedule=WEEKLY), T0, T0 + days(35), step=step, template=template)

    mondays = [at("2026-01-05T04:00Z") + days(7 * i) for i in range(5)]
    assert len(sim.triggers) == 5
    assert len(template.runs) == 5
    for fired, monday in zip(sim.triggers, mondays, strict=True):
        assert monday <= fired < monday + step
    assert sim.state.consecutive_failures == 0
    assert not sim.state.running or sim.triggers[-1] + duration > T0 + days(35) - step


@pytest.mark.parametrize(
    ("schedule", "down_from", "down_to", "expected"),
    [
        (WEEKLY, "2026-01-04T00:00Z", "2026-01-07T00:00Z", ["2026-01-07T00:00Z"]),
        (WEEKLY, "2026-01-05T03:59Z", "2026-01-08T03:59Z", ["2026-01-08T04:00Z"]),
        ("0 2 * * *", "2026-01-04T00:00Z", "2026-01-07T00:00Z", ["2026-01-07T00:00Z", "2026-01-07T02:00Z"]),
    ],
    ids=["weekly-3-days-across-monday", "weekly-down-just-before-fire", "daily-3-fire-times-missed"],
)
def test_downtime_across_fire_times_gives_one_catch_up_run(
    schedule: str, down_from: str, down_to: str, expected: list[str]
) -> None:
    """On return, one catch-up run for all missed fire times, then the schedule as usual."""
    template = Template(duration=timedelta(minutes=30))
    start, down = at("2026-01-03T00:00Z"), (at(down_from), at(down_to))
    sim = simulate(rebake(schedule=schedule), start, at(down_to) + days(1), template=template, down=[down])

    assert [t for t in sim.triggers if t >= down[0]] == [at(t) for t in expected]
    assert len(template.runs) == len(sim.triggers)


def test_three_days_of_downtime_across_one_fire_time_over_two_weeks() -> None:
    template = Template(duration=timedelta(minutes=5))
    sim = simulate(
        rebake(schedule=WEEKLY),
        T0,
        T0 + days(14),
        template=template,
        down=[(at("2026-01-04T00:00Z"), at("2026-01-07T00:00Z"))],
    )
    assert sim.triggers == [at("2026-01-07T00:00Z"), at("2026-01-12T04:00Z")]


@pytest.mark.parametrize(
    ("versions", "now", "due"),
    [
        (("2026-01-06T00:00Z",), "2026-01-08T00:00Z", False),
        (("2026-01-02T00:00Z",), "2026-01-08T00:00Z", True),
        ((), "2026-01-08T00:00Z", True),
        (("2026-01-02T00:00Z", "2026-01-06T00:00Z"), "2026-01-08T00:00Z", False),
        (("2026-01-05T04:00Z",), "2026-01-05T04:00Z", False),
        (("2026-01-05T03:59Z",), "2026-01-05T04:00Z", True),
    ],
    ids=[
        "built-after-latest-fire",
        "built-before-latest-fire",
        "no-versions",
        "newest-of-two-counts",
        "built-at-fire-minute",
        "fire-time-itself-is-due",
    ],
)
def test_first_sweep_without_a_trigger_compares_with_the_newest_version(
    versions: tuple[str, ...], now: str, due: bool
) -> None:
    observed = image(*(version(f"1.0.{i}", published=at(p)) for i, p in enumerate(versions)))
    decision = plan_rebake(rebake(schedule=WEEKLY), observed, RebakeState(), at(now), policy_digest=DIGEST)
    assert bool(decision.actions) is due
    assert decision.report is not None and decision.report.due is due


def test_failed_versions_do_not_count_as_built() -> None:
    observed = image(
        version("1.0.0", published=at("2026-01-02T00:00Z")),
        version("1.0.1", published=at("2026-01-06T00:00Z"), state=ProvisioningState.FAILED),
    )
    decision = plan_rebake(
        rebake(schedule=WEEKLY), observed, RebakeState(), at("2026-01-08T00:00Z"), policy_digest=DIGEST
    )
    assert len(decision.actions) == 1


# --- running, failures, back-off ---------------------------------------------------------------------

RUNNING = RebakeState(
    last_trigger=at("2026-01-05T04:00Z"),
    running=True,
    run_started=at("2026-01-05T04:00Z"),
    run_id=f"{TEMPLATE}@2026-01-05T04:00:00Z",
    run_seen="NeverRun -..-",
    policy_digest=DIGEST,
)
OLD_TRIGGER = replace(RUNNING, running=False, last_trigger=at("2025-12-29T04:00Z"))


@pytest.mark.parametrize(
    ("state", "run", "now", "due", "reason", "expect"),
    [
        (
            OLD_TRIGGER,
            RunObservation("Running", at("2026-01-05T03:00Z")),
            "2026-01-05T04:15Z",
            False,
            "run in progress",
            {"running": True},
        ),
        (
            RUNNING,
            RunObservation("Running", at("2026-01-05T04:00Z"), sub_state="Customizing"),
            "2026-01-12T04:15Z",
            False,
            "run in progress since 2026-01-05T04:00:00Z (Running/Customizing); due again",
            {"running": True},
        ),
        (RUNNING, None, "2026-01-05T20:00Z", False, "run in progress", {"running": True}),
        (
            RUNNING,
            RunObservation("Unknown", message="ARM answered 503"),
            "2026-01-05T08:00Z",
            False,
            "run in progress",
            {"running": True},
        ),
        (
            RUNNING,
            RunObservation("Canceling", at("2026-01-05T04:00Z")),
            "2026-01-05T08:00Z",
            False,
            "run in progress",
            {"running": True},
        ),
        (
            RUNNING,
            RunObservation("Succeeded", at("2026-01-05T04:00Z"), at("2026-01-05T05:00Z")),
            "2026-01-05T05:15Z",
            False,
            "schedule",
            {"running": False, "consecutive_failures": 0, "last_outcome": "Succeeded"},
        ),
        (
            RUNNING,
            RunObservation("Succeeded", at("2026-01-05T04:00Z"), at("2026-01-05T05:00Z")),
            "2026-01-12T04:15Z",
            True,
            "fired at 2026-01-12T04:00:00Z",
            {"running": True, "consecutive_failures": 0},
        ),
        (
            RUNNING,
            RunObservation("PartiallySucceeded", at("2026-01-05T04:00Z"), at("2026-01-05T05:00Z"), "1 of 2"),
            "2026-01-05T05:15Z",
            False,
            "schedule",
            {"running": False, "consecutive_failures": 0},
        ),
        (
            RUNNING,
            RunObservation("Failed", at("2026-01-05T04:00Z"), at("2026-01-05T04:30Z"), "exit 1"),
            "2026-01-05T04:45Z",
            False,
            "retry after failed run 1 of 3 (exit 1)",
            {"running": False, "consecutive_failures": 1, "last_outcome": "Failed", "last_message": "exit 1"},
        ),
        (
            RUNNING,
            RunObservation("Canceled", at("2026-01-05T04:00Z"), at("2026-01-05T04:30Z"), "canceled"),
            "2026-01-05T04:45Z",
            False,
            "retry after failed run 1 of 3",
            {"consecutive_failures": 1, "last_outcome": "Canceled"},
        ),
        (
            replace(
                RUNNING,
                running=False,
                consecutive_failures=1,
                run_ended=at("2026-01-05T04:45Z"),
                run_seen="Failed 2026-01-05T04:00:00Z..2026-01-05T04:30:00Z",
            ),
            RunObservation("Failed", at("2026-01-05T04:00Z"), at("2026-01-05T04:30Z"), "exit 1"),
            "2026-01-05T05:45Z",
            True,
            "retry after failed run 1 of 3",
            {"running": True, "consecutive_failures": 1},
        ),
        (
            RUNNING,
            RunObservation(None),
            iso(at("2026-01-05T04:00Z") + START_GRACE - timedelta(minutes=1)),
            False,
            "run in progress",
            {"running": True, "consecutive_failures": 0},
        ),
        (
            RUNNING,
            RunObservation(None),
            iso(at("2026-01-05T04:00Z") + START_GRACE + timedelta(minutes=1)),
            False,
            "retry after failed run 1 of 3 (the run did not start within 30 minutes)",
            {"running": False, "consecutive_failures": 1, "last_outcome": "NotStarted"},
        ),
        (
            RUNNING,
            None,
            iso(at("2026-01-05T04:00Z") + STATUS_TIMEOUT + timedelta(minutes=1)),
            False,
            "no run status for 24 hours",
            {"running": False, "consecutive_failures": 1, "last_outcome": "Unknown"},
        ),
        (
            replace(RUNNING, running=False, run_seen=None, last_trigger=at("2026-01-05T04:10Z")),
            RunObservation("Failed", at("2025-06-01T00:00Z"), at("2025-06-01T01:00Z"), "old"),
            "2026-01-05T05:00Z",
            False,
            "schedule",
            {"consecutive_failures": 0, "running": False},
        ),
        (
            replace(RUNNING, run_seen=None),
            RunObservation("Failed", at("2025-06-01T00:00Z"), at("2025-06-01T01:00Z"), "old"),
            "2026-01-05T04:15Z",
            False,
            "run in progress",
            {"consecutive_failures": 0, "running": True},
        ),
        (
            replace(RUNNING, run_id=f"{TEMPLATE}-old@2026-01-05T04:00:00Z"),
            RunObservation("Succeeded", at("2026-01-01T00:00Z"), at("2026-01-01T01:00Z")),
            "2026-01-05T05:00Z",
            False,
            "schedule",
            {"running": False},
        ),
    ],
    ids=[
        "run-started-elsewhere-is-adopted",
        "no-new-run-while-one-runs",
        "no-observation-yet",
        "status-unreadable-waits",
        "canceling-is-still-running",
        "success-ends-the-watch",
        "success-and-next-fire-in-one-sweep",
        "partial-success-counts-as-success",
        "failure-counts",
        "cancel-counts-as-failure",
        "retry-after-delay",
        "start-not-visible-yet",
        "start-never-visible",
        "status-unreadable-for-a-day",
        "first-sight-of-an-old-run-is-not-counted",
        "old-run-is-not-ours",
        "template-changed-drops-the-watch",
    ],
)
def test_run_watch(
    state: RebakeState, run: RunObservation | None, now: str, due: bool, reason: str, expect: dict[str, Any]
) -> None:
    decision = plan_rebake(
        rebake(schedule=WEEKLY),
        image(version("1.0.0", published=T0)),
        state,
        at(now),
        policy_digest=DIGEST,
        run=run,
    )
    assert decision.report is not None
    assert bool(decision.actions) is due
    assert decision.report.due is due
    assert reason in decision.report.reason
    for key, value in expect.items():
        assert getattr(decision.state, key) == value, key
    assert not decision.notifications


def test_template_whose_runs_fail_stops_after_three_and_reports_once() -> None:
    template = Template(duration=timedelta(minutes=20), outcome="Failed")
    sim = simulate(rebake(schedule=WEEKLY), T0, T0 + days(35), template=template)

    assert len(template.runs) == MAX_FAILURES
    first = at("2026-01-05T04:00Z")
    # First run at the fire time; each retry an hour after the failure was seen.
    assert sim.triggers[0] == first
    assert all(b - a >= RETRY_DELAY for a, b in zip(sim.triggers, sim.triggers[1:], strict=False))
    assert sim.triggers[-1] < first + timedelta(hours=4)
    failed = sim.of(NotificationType.REBAKE_FAILED)
    assert len(failed) == 1
    assert failed[0].subject == IMAGE.id
    assert failed[0].data["imageId"] == IMAGE.id
    assert failed[0].data["failures"] == MAX_FAILURES
    assert failed[0].data["lastMessage"] == "customizer failed: exit 1"
    assert sim.state.halted
    report = sim.decisions[-1].report
    assert report is not None and not report.due and report.next_time is None
    assert "halted after 3 failed runs in a row (last: customizer failed: exit 1)" in report.reason


def test_failures_from_the_start_request_halt_too() -> None:
    """The reconcile counts a start the executor could not make; the planner halts at the third."""
    state = RebakeState(
        last_trigger=at("2026-01-05T06:00Z"),
        consecutive_failures=MAX_FAILURES,
        last_outcome="start failed: ARM answered 404 ResourceNotFound",
        last_message="exit 1",  # from an earlier run: the latest failure is the start
        policy_digest=DIGEST,
        run_seen="NeverRun -..-",
    )
    decision = plan_rebake(
        rebake(schedule=WEEKLY),
        image(),
        state,
        at("2026-01-05T08:00Z"),
        policy_digest=DIGEST,
        run=RunObservation("Unknown", message="not found"),
    )
    assert not decision.actions
    assert decision.state.halted
    [failed] = decision.notifications
    assert failed.type is NotificationType.REBAKE_FAILED
    assert failed.data["lastMessage"] == "start failed: ARM answered 404 ResourceNotFound"
    again = plan_rebake(
        rebake(schedule=WEEKLY), image(), decision.state, at("2026-01-05T09:00Z"), policy_digest=DIGEST
    )
    assert not again.actions and not again.notifications


def halted_after_failures() -> tuple[Simulation, Template]:
    template = Template(duration=timedelta(minutes=20), outcome="Failed")
    sim = simulate(rebake(schedule=WEEKLY), T0, at("2026-01-06T00:00Z"), template=template)
    assert sim.state.halted
    return sim, template


@pytest.mark.parametrize(
    ("digest", "expected_triggers"),
    [
        (DIGEST, []),
        ("digest-2", ["2026-01-13T00:00Z", "2026-01-19T04:00Z"]),
    ],
    ids=["same-policy-stays-halted", "policy-change-resumes"],
)
def test_policy_change_lifts_the_halt(digest: str, expected_triggers: list[str]) -> None:
    sim, template = halted_after_failures()
    template.outcome = "Succeeded"
    # The Monday fire time passed while halted: a policy change catches it up once, then the schedule runs.
    resumed = simulate(
        rebake(schedule=WEEKLY),
        at("2026-01-13T00:00Z"),
        at("2026-01-20T00:00Z"),
        template=template,
        state=sim.state,
        digest=digest,
    )
    assert resumed.triggers == [at(t) for t in expected_triggers]
    assert resumed.state.halted is (digest == DIGEST)
    assert not resumed.of(NotificationType.REBAKE_FAILED)


def test_successful_run_started_elsewhere_lifts_the_halt() -> None:
    sim, template = halted_after_failures()
    template.outcome = "Succeeded"
    template.runs.append((at("2026-01-08T10:00Z"), at("2026-01-08T11:00Z"), "Succeeded"))  # run by hand
    resumed = simulate(
        rebake(schedule=WEEKLY),
        at("2026-01-08T09:00Z"),
        at("2026-01-13T00:00Z"),
        template=template,
        state=sim.state,
    )
    assert not resumed.state.halted
    assert resumed.state.consecutive_failures == 0
    assert resumed.triggers == [at("2026-01-12T04:00Z")]


# --- max age ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("new_version_after_run", "expected"),
    [
        (True, ["2026-01-31T00:00Z", "2026-03-02T01:00Z"]),
        (False, ["2026-01-31T00:00Z", "2026-03-02T00:00Z"]),
    ],
    ids=["each-rebake-brings-a-version", "rebake-brings-no-version-ask-again-after-max-age"],
)
def test_max_age_triggers_once_per_staleness(new_version_after_run: bool, expected: list[str]) -> None:
    template = Template(duration=timedelta(minutes=30))
    sim = simulate(
        rebake(max_age_days=30),
        T0,
        T0 + days(70),
        step=timedelta(hours=1),
        template=template,
        new_version_after_run=new_version_after_run,
    )
    assert sim.triggers == [at(t) for t in expected]
    first = sim.decisions[0].report
    assert first is not None and first.next_time == "2026-01-31T00:00:00Z"
    assert "max age 30 days: newest version 1.0.0" in first.reason


def test_max_age_with_no_healthy_version_is_due_now() -> None:
    decision = plan_rebake(
        rebake(max_age_days=30), image(), RebakeState(), T0, policy_digest=DIGEST, run=RunObservation(None)
    )
    assert len(decision.actions) == 1
    assert "no healthy version" in decision.actions[0].reason


@pytest.mark.parametrize(
    ("rules", "now", "next_time", "why"),
    [
        (dict(schedule=WEEKLY, max_age_days=30), "2026-01-02T00:00Z", "2026-01-05T04:00:00Z", "schedule"),
        (dict(schedule="0 4 1 * *", max_age_days=10), "2026-01-02T00:00Z", "2026-01-11T12:00:00Z", "max age"),
        (dict(schedule="0 4 1 * *"), "2026-01-02T00:00Z", "2026-02-01T04:00:00Z", "schedule '0 4 1 * *'"),
    ],
    ids=["next-fire-first", "age-deadline-first", "schedule-only"],
)
def test_report_names_the_next_rebake_and_why(
    rules: dict[str, Any], now: str, next_time: str, why: str
) -> None:
    decision = plan_rebake(
        rebake(**rules),
        image(version("1.0.0", published=at("2026-01-01T12:00Z"))),
        RebakeState(),
        at(now),
        policy_digest=DIGEST,
        run=RunObservation(None),
    )
    assert decision.report is not None
    assert not decision.report.due
    assert decision.report.next_time == next_time
    assert decision.report.reason.startswith(why)


# --- publish_event -----------------------------------------------------------------------------------


def test_publish_event_requests_one_build_per_due_rebake() -> None:
    sim = simulate(rebake(schedule=WEEKLY, publish_event=True), T0, T0 + days(35), step=timedelta(hours=1))

    assert len(sim.triggers) == 5
    requests = sim.of(NotificationType.REBAKE_REQUESTED)
    assert len(requests) == 5
    first = requests[0]
    assert first.subject == IMAGE.id
    assert first.data == {
        "imageId": IMAGE.id,
        "reason": f"schedule '{WEEKLY}' fired at 2026-01-05T04:00:00Z",
        "due": "2026-01-05T04:00:00Z",
    }
    actions = [a for d in sim.decisions for a in d.actions]
    for action in actions:
        assert dict(action.after) == {"publish_event": True, "due": action.notifications[0].data["due"]}
    assert len({a.key for a in actions}) == 5
    assert not sim.state.running and sim.state.consecutive_failures == 0


def test_publish_event_never_waits_nor_backs_off() -> None:
    state = RebakeState(last_trigger=at("2026-01-04T00:00Z"), consecutive_failures=2, policy_digest=DIGEST)
    decision = plan_rebake(
        rebake(schedule=WEEKLY, publish_event=True),
        image(),
        state,
        at("2026-01-05T04:00Z"),
        policy_digest=DIGEST,
    )
    [action] = decision.actions
    assert [n.type for n in action.notifications] == [NotificationType.REBAKE_REQUESTED]
    assert not decision.state.running
    assert decision.state.last_trigger == at("2026-01-05T04:00Z")


# --- exactly once, idempotence, state documents ------------------------------------------------------


def test_image_builder_action_and_state_claim() -> None:
    decision = plan_rebake(
        rebake(schedule=WEEKLY),
        image(version("1.0.0", published=T0)),
        RebakeState(policy_digest=DIGEST),
        at("2026-01-05T04:10Z"),
        policy_digest=DIGEST,
        run=RunObservation("Succeeded", at("2025-12-01T00:00Z"), at("2025-12-01T01:00Z")),
    )
    [action] = decision.actions
    assert action.kind is ActionKind.REBAKE and action.target == IMAGE.id
    assert dict(action.after) == {"image_template": TEMPLATE, "due": "2026-01-05T04:00:00Z"}
    assert not action.notifications
    state = decision.state
    assert state.running and state.last_trigger == at("2026-01-05T04:10Z")
    assert state.run_seen == "Succeeded 2025-12-01T00:00:00Z..2025-12-01T01:00:00Z"
    # A second instance planning on the claimed state (after losing the ETag race) starts nothing.
    for now in ("2026-01-05T04:10Z", "2026-01-05T04:11Z"):
        again = plan_rebake(
            rebake(schedule=WEEKLY),
            image(version("1.0.0", published=T0)),
            state,
            at(now),
            policy_digest=DIGEST,
            run=RunObservation("Running", at("2026-01-05T04:10Z")),
        )
        assert not again.actions
        assert again.state == state


def test_both_instances_plan_the_same_action_key() -> None:
    """Two instances sweeping minutes apart agree on the action (same idempotency key)."""
    args = (rebake(schedule=WEEKLY), image(version("1.0.0", published=T0)), RebakeState())
    first = plan_rebake(*args, at("2026-01-05T04:01Z"), policy_digest=DIGEST, run=RunObservation(None))
    second = plan_rebake(*args, at("2026-01-05T04:14Z"), policy_digest=DIGEST, run=RunObservation(None))
    assert first.actions[0].key == second.actions[0].key


def test_nothing_due_leaves_the_state_untouched() -> None:
    state = RebakeState(last_trigger=at("2026-01-05T04:00Z"), policy_digest=DIGEST, run_seen="x")
    run = RunObservation("Succeeded", at("2026-01-05T04:00Z"), at("2026-01-05T05:00Z"))
    state = replace(state, run_seen=run.marker)
    decision = plan_rebake(
        rebake(schedule=WEEKLY), image(), state, at("2026-01-06T00:00Z"), policy_digest=DIGEST, run=run
    )
    assert decision.state == state
    assert not decision.actions and not decision.notifications


def test_not_configured_returns_the_state_and_no_report() -> None:
    state = RebakeState(last_trigger=T0)
    decision = plan_rebake(Rebake(), image(), state, T0, policy_digest=DIGEST)
    assert decision == RebakeDecision(state=state)


@pytest.mark.parametrize(
    "document",
    [
        {},
        {"last_trigger": "2026-01-05T04:00:00Z", "running": True, "run_id": "x", "consecutive_failures": 2},
        {"last_trigger": None, "consecutive_failures": None, "halted": True, "policy_digest": "d"},
    ],
    ids=["empty", "before-run-watch-fields", "nulls"],
)
def test_state_documents_from_older_versions_load(document: dict[str, Any]) -> None:
    state = RebakeState.from_json(document)
    assert RebakeState.from_json(state.to_json()) == state
    assert state.run_seen is None and state.run_ended is None and state.last_message is None


def test_plan_image_carries_the_rebake() -> None:
    image_policy = policy({"rebake": {"schedule": WEEKLY, "publish_event": True}})
    plan = plan_image(
        image_policy,
        image(version("1.0.0", published=T0, tags={"lifecycle.state": "active"})),
        at("2026-01-05T04:00Z"),
        state=ImageState(),
    )
    rebakes = [a for a in plan.actions if a.kind is ActionKind.REBAKE]
    assert len(rebakes) == 1
    assert plan.rebake is not None and plan.rebake.due
    assert plan.state.rebake.last_trigger == at("2026-01-05T04:00Z")
    assert plan.state.rebake.policy_digest == image_policy.digest()
