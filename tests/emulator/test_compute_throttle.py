"""`--throttle` enforces Compute's per-operation policies per subscription, on the virtual clock, with
Compute's 429 body (../shared/reference/throttling/compute-429-example.json) and Retry-After."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.emulator.conftest import Arm, advance, gallery_path
from tests.harness.services import Emulator

pytestmark = pytest.mark.integration

EXAMPLE = (
    Path(__file__).resolve().parents[3] / "shared" / "reference" / "throttling" / "compute-429-example.json"
)
OTHER_SUB = "00000000-0000-0000-0000-000000000002"


def _remaining(header: str) -> dict[str, int]:
    out = {}
    for item in header.split(","):
        name, _, count = item.strip().partition(";")
        out[name] = int(count)
    return out


def test_a_full_3_minute_window_refuses_with_computes_body_until_it_slides(
    extra_emulator: Callable[..., Emulator],
) -> None:
    emu = extra_emulator("--throttle")
    emu.control("POST", "config", {"compute_limits": {"GetGallery": [3, 5]}})
    arm = Arm(emu)
    left = [
        _remaining(arm.call("GET", gallery_path("gal")).headers["x-ms-ratelimit-remaining-resource"])
        for _ in range(3)
    ]
    assert [x["Microsoft.Compute/GetGallery3Min"] for x in left] == [2, 1, 0]
    assert [x["Microsoft.Compute/GetGallery30Min"] for x in left] == [4, 3, 2]

    refused = arm.call("GET", gallery_path("gal"))
    assert refused.status == 429
    assert 170 <= int(refused.headers["retry-after"]) <= 180
    error = refused.body["error"]
    assert error["code"] == "OperationNotAllowed"
    assert error["message"].startswith("The server rejected the request because too many requests")
    (detail,) = error["details"]
    assert detail["code"] == "TooManyRequests"
    assert detail["target"] == "GetGallery3Min"
    measured = json.loads(detail["message"])
    assert measured["operationGroup"] == "GetGallery3Min"
    assert measured["allowedRequestCount"] == 3
    assert measured["measuredRequestCount"] == 4
    assert (
        _remaining(refused.headers["x-ms-ratelimit-remaining-resource"])["Microsoft.Compute/GetGallery3Min"]
        == 0
    )

    # Another subscription has its own windows; another operation its own policy.
    assert arm.call("GET", gallery_path("gal", sub=OTHER_SUB)).status == 404
    stats = emu.stats()
    assert stats["throttled_by_policy"] == {"GetGallery3Min": 1}

    # Three minutes later (virtual) the short window has slid; the 30-minute one now binds.
    advance(emu, 181)
    assert arm.call("GET", gallery_path("gal")).status == 404
    refused = arm.call("GET", gallery_path("gal"))
    assert refused.status == 429
    assert refused.body["error"]["details"][0]["target"] == "GetGallery30Min"
    assert 1500 <= int(refused.headers["retry-after"]) <= 1800
    advance(emu, 1800)
    assert arm.call("GET", gallery_path("gal")).status == 404


def test_the_body_matches_the_recorded_compute_429() -> None:
    if not EXAMPLE.exists():
        pytest.skip(f"reference material not found at {EXAMPLE}")
    recorded = json.loads(EXAMPLE.read_text())
    from emulator.throttle import Refusal

    body = Refusal("HighCostGet30Min", 1200, 0.0, 1200.0, 800, 1238).body()["error"]
    assert body["code"] == recorded["code"]
    assert body["message"] == recorded["message"]
    assert set(body["details"][0]) == set(recorded["details"][0])
    assert body["details"][0]["code"] == recorded["details"][0]["code"]
    assert set(json.loads(body["details"][0]["message"])) == set(
        json.loads(recorded["details"][0]["message"])
    )


def test_without_throttle_the_windows_count_but_never_refuse(arm: Arm, emulator: Emulator) -> None:
    emulator.control("POST", "config", {"compute_limits": {"GetGallery": [2, 3]}})
    try:
        answers = [arm.call("GET", gallery_path("gal")) for _ in range(4)]
        assert [a.status for a in answers] == [404] * 4
        last = _remaining(answers[-1].headers["x-ms-ratelimit-remaining-resource"])
        assert last["Microsoft.Compute/GetGallery3Min"] == 0
    finally:
        emulator.reset()


def test_real_limits_are_reported_by_default(arm: Arm, emulator: Emulator) -> None:
    emulator.reset()
    config = emulator.control("GET", "config")
    assert config["compute_limits"]["CreateUpdateGalleryImageVersion"] == [375, 1200]
    assert config["compute_limits"]["DeleteGalleryImageVersion"] == [150, 1000]
    header = arm.call("GET", gallery_path("gal")).headers["x-ms-ratelimit-remaining-resource"]
    assert _remaining(header) == {
        "Microsoft.Compute/GetGallery3Min": 349,
        "Microsoft.Compute/GetGallery30Min": 2499,
    }
