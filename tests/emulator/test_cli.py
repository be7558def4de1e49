"""`python -m emulator` as a process: its first line, options, paging links and clean shutdown."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.emulator.conftest import RG, SUB, Arm, gallery_path
from tests.harness.services import ROOT, Emulator

pytestmark = pytest.mark.integration


def test_options_and_clean_shutdown(extra_emulator: Callable[..., Emulator]) -> None:
    emu = extra_emulator("--start-time", "2030-01-01T00:00:00Z", "--latency-ms", "150", "--page-size", "2")
    assert emu.endpoint.startswith("https://127.0.0.1:")
    ca = Path(emu.ca_bundle)
    assert ca.read_text().startswith("-----BEGIN CERTIFICATE-----")
    assert emu.control("GET", "time")["now"].startswith("2030-01-01T00:00:0")

    arm = Arm(emu)
    started = time.monotonic()
    created = arm.call("PUT", gallery_path("g1"), {"location": "westeurope"})
    assert time.monotonic() - started >= 0.15
    assert created.body["properties"]["provisioningState"] == "Creating"
    for name in ("g2", "g3"):
        arm.call("PUT", gallery_path(name), {"location": "westeurope"})
    first = arm.call("GET", f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Compute/galleries")
    assert [g["name"] for g in first.body["value"]] == ["g1", "g2"]
    next_link = first.body["nextLink"]
    assert next_link.startswith(f"{emu.endpoint}/subscriptions/{SUB}/")
    assert "api-version=2026-03-03" in next_link
    second = arm.call("GET", next_link)
    assert [g["name"] for g in second.body["value"]] == ["g3"]
    assert "nextLink" not in second.body
    top = arm.call("GET", f"/subscriptions/{SUB}/providers/Microsoft.Compute/galleries", **{"$top": "1"})
    assert len(top.body["value"]) == 1
    assert "%24top=1" in top.body["nextLink"] or "$top=1" in top.body["nextLink"]

    emu.process.terminate()
    assert emu.process.wait(timeout=10) == 0
    assert not ca.exists()


def test_bad_options_exit_with_usage_error() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "emulator", "--faults", "teapot=1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "--faults" in result.stderr
    assert result.stdout == ""
