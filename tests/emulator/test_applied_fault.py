"""Fault `applied-500`: an ARM write takes effect and is answered 500 all the same, settable at start-up
(`--faults`) and at runtime (`POST /_emulator/faults`); reads are never touched."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from emulator.faults import FaultSpec
from tests.emulator.conftest import Arm, gallery_path, make_image, version_body
from tests.harness.services import Emulator

pytestmark = pytest.mark.integration


def test_a_write_is_applied_and_answered_500(emulator: Emulator, arm: Arm) -> None:
    image = make_image(arm)
    state = emulator.control("POST", "faults", {"faults": "applied-500=1.0"})
    assert state["faults"] == "applied-500=1"
    answer = arm.call("PUT", f"{image}/versions/1.0.0", version_body())
    assert answer.status == 500 and answer.code == "InternalServerError"
    got = arm.call("GET", f"{image}/versions/1.0.0")
    assert got.status == 200, "the write took effect"
    assert arm.call("DELETE", gallery_path("other")).status == 500  # even a 204 no-op is answered 500
    tags = arm.call(
        "PATCH",
        f"{image}/providers/Microsoft.Resources/tags/default",
        {"operation": "Merge", "properties": {"tags": {"a": "1"}}},
        api_version="2022-09-01",
    )
    assert tags.status == 500 and arm.call("GET", image).body["tags"] == {"a": "1"}
    injected = emulator.control("GET", "faults")["injected"]
    assert injected["applied-500"] == 3
    assert emulator.stats()["faults"] >= 3


def test_a_refused_write_is_answered_as_refused(emulator: Emulator, arm: Arm) -> None:
    emulator.control("POST", "faults", {"faults": "applied-500=1.0"})
    answer = arm.call("PUT", f"{gallery_path('none')}/images/x", {"location": "westeurope"})
    assert answer.status in (400, 404), "nothing was applied: the real answer stands"


def test_set_on_the_command_line(extra_emulator: Callable[..., Emulator]) -> None:
    emu = extra_emulator("--faults", "applied-500=1")
    arm = Arm(emu)
    assert arm.call("PUT", gallery_path("g"), {"location": "westeurope"}).status == 500
    assert arm.call("GET", gallery_path("g")).status == 200


def test_the_spec_names_the_kind() -> None:
    assert FaultSpec.parse("applied-500=0.25,500=0.1").rates == {"applied-500": 0.25, "500": 0.1}
    with pytest.raises(ValueError, match="applied-500"):
        FaultSpec.parse("applied-501=1")
