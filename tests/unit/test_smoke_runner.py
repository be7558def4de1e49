"""The smoke's step runner (pure: output to a buffer): one line per step, a failure names its step and
error and stops the run, removals run newest first and all of them even when one fails."""

from __future__ import annotations

import io
import itertools

import pytest

from lifecycle.smoke.runner import Runner, StepAborted, StepFailed


def _runner() -> tuple[Runner, io.StringIO]:
    out = io.StringIO()
    ticks = itertools.count(0.0, 0.5)
    return Runner(out=out, clock=lambda: next(ticks)), out


def test_each_step_prints_one_line_with_status_and_seconds() -> None:
    runner, out = _runner()
    assert runner.step("create gallery g", lambda: "made") == "made"
    runner.step("create image i", lambda: None)
    assert out.getvalue().splitlines() == [
        "ok              0.5s  create gallery g: made",
        "ok              0.5s  create image i",
    ]


def test_a_failed_step_names_itself_and_its_error_and_stops_the_run() -> None:
    runner, out = _runner()

    def refuse() -> None:
        raise StepFailed("ARM answered 403 AuthorizationFailed:\n  no access")

    with pytest.raises(StepAborted) as raised:
        runner.step("in-use check", refuse)
    assert raised.value.step == "in-use check"
    assert raised.value.error == "ARM answered 403 AuthorizationFailed: no access"
    assert (
        out.getvalue()
        == "failed          0.5s  in-use check: ARM answered 403 AuthorizationFailed: no access\n"
    )


def test_an_interrupted_step_is_reported_and_the_interrupt_goes_on() -> None:
    runner, out = _runner()

    def interrupted() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        runner.step("create image version 1.0.0", interrupted)
    assert out.getvalue().startswith("interrupted")


def test_removals_run_newest_first_and_all_of_them() -> None:
    runner, out = _runner()
    done: list[str] = []

    def failing() -> None:
        raise RuntimeError("409 CannotDeleteResource")

    runner.on_cleanup("remove disk", lambda: done.append("disk"))
    runner.on_cleanup("remove gallery", failing)
    runner.on_cleanup("remove image", lambda: done.append("image"))
    assert runner.pending_cleanups() == ["remove image", "remove gallery", "remove disk"]
    assert runner.cleanup() is False
    assert done == ["image", "disk"]
    lines = out.getvalue().splitlines()
    assert [line.split("s  ", 1)[1] for line in lines] == [
        "remove image",
        "remove gallery: 409 CannotDeleteResource",
        "remove disk",
    ]
    assert runner.cleanup() is True  # nothing left to remove
