"""Compute's per-operation windows are counted per subscription and per region (the troubleshooting page:
"Azure Compute requests may be throttled at a subscription and on a per-region basis"): a region whose
window is full refuses, another region of the same subscription does not."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.emulator.conftest import Arm, gallery_path, make_image
from tests.harness.services import Emulator

pytestmark = pytest.mark.integration
POLICY = "CreateUpdateGalleryImage"


def left(answer: object) -> int:
    header = answer.headers["x-ms-ratelimit-remaining-resource"]  # type: ignore[attr-defined]
    return int(header.split(",")[0].rpartition(";")[2])


def test_a_full_window_in_one_region_leaves_the_other_region_its_own(
    extra_emulator: Callable[..., Emulator],
) -> None:
    emu = extra_emulator("--throttle")
    arm = Arm(emu)
    emu.control("POST", "config", {"compute_limits": {POLICY: [3, 10]}})
    west = make_image(arm, gallery="gwest", location="westeurope")  # one write of the policy each
    east = make_image(arm, gallery="geast", location="eastus")
    body = {"location": "westeurope", "properties": {"osType": "Linux"}}
    answers = [arm.call("PATCH", west, {"tags": {"n": str(i)}}) for i in range(3)]
    assert [a.status for a in answers[:2]] == [200, 200]
    assert answers[2].status == 429 and answers[2].code == "OperationNotAllowed"
    assert int(answers[2].headers["retry-after"]) >= 1

    other = arm.call("PATCH", east, {"tags": {"n": "1"}})
    assert other.status == 200, "eastus has its own window"
    assert left(other) == 1
    new_in_west = arm.call("PUT", f"{gallery_path('gwest')}/images/second", body)
    assert new_in_west.status == 429, "a new resource counts in the region it is created in"
