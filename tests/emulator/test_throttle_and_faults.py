"""`--throttle` (ARM token buckets, 429 + Retry-After, rate-limit headers) and `--faults` (injected 429 /
500 / 503, dropped connections, failed long-running operations), seen through raw HTTPS and the SDK."""

from __future__ import annotations

import http.client
import ssl
from collections.abc import Callable
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError

from tests.conftest import compute_client
from tests.emulator.conftest import RG, SUB, Arm, advance, gallery_path, make_image, version_body
from tests.harness.services import Emulator

pytestmark = pytest.mark.integration


def _connection(emulator: Emulator) -> http.client.HTTPSConnection:
    host, port = emulator.endpoint.removeprefix("https://").rsplit(":", 1)
    context = ssl.create_default_context(cafile=emulator.ca_bundle)
    return http.client.HTTPSConnection(host, int(port), context=context, timeout=30)


def _get(conn: http.client.HTTPSConnection, path: str) -> tuple[int, dict[str, str], bytes]:
    conn.request("GET", f"{path}?api-version=2026-03-03", headers={"Authorization": "Bearer t"})
    resp = conn.getresponse()
    return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()


def test_throttle_burst_meets_429_and_the_sdk_recovers(extra_emulator: Callable[..., Emulator]) -> None:
    emu = extra_emulator("--throttle")
    compute = compute_client(emu, SUB)
    compute.galleries.begin_create_or_update(RG, "gal", {"location": "westeurope"}).result()

    conn = _connection(emu)
    statuses: list[int] = []
    remaining: list[int] = []
    throttled_answer: tuple[dict[str, str], bytes] | None = None
    for _ in range(400):
        status, headers, body = _get(conn, gallery_path("gal"))
        statuses.append(status)
        if status == 200:
            remaining.append(int(headers["x-ms-ratelimit-remaining-subscription-reads"]))
            assert "x-ms-ratelimit-remaining-resource" in headers
        elif throttled_answer is None:
            throttled_answer = (headers, body)
    conn.close()
    assert statuses.count(429) > 0
    assert statuses[:200].count(200) == 200  # the first 200 fit in the 250-token bucket
    assert remaining[0] > remaining[100]
    assert throttled_answer is not None
    headers, body = throttled_answer
    assert int(headers["retry-after"]) >= 1
    assert b'"SubscriptionRequestsThrottled"' in body

    # The SDK's retry policy honours Retry-After: every GET succeeds, slowly.
    for _ in range(40):
        assert compute.galleries.get(RG, "gal").name == "gal"
    stats = emu.stats()
    assert stats["throttled"] > 0
    assert stats["by_method"]["GET"] >= 440


def test_control_endpoints_never_throttle_nor_fault(extra_emulator: Callable[..., Emulator]) -> None:
    emu = extra_emulator("--throttle")
    conn = _connection(emu)
    statuses = [_get(conn, gallery_path("gal"))[0] for _ in range(300)]
    conn.close()
    assert 429 in statuses
    emu.control("POST", "faults", "500=1.0")
    for _ in range(20):
        assert emu.stats()["throttled"] == statuses.count(429)
    assert emu.control("GET", "time")["now"]
    assert emu.stats()["by_method"]["GET"] == 300


def test_500_fault_makes_the_sdk_retry_then_fail(extra_emulator: Callable[..., Emulator]) -> None:
    emu = extra_emulator("--faults", "500=1.0")
    compute = compute_client(emu, SUB)
    compute._config.retry_policy.total_retries = 2
    compute._config.retry_policy.backoff_factor = 0.01
    with pytest.raises(HttpResponseError) as caught:
        compute.galleries.get(RG, "gal")
    assert caught.value.status_code == 500
    stats = emu.stats()
    assert stats["faults"] == 3  # the first try and two retries
    assert stats["by_method"]["GET"] == 3


def test_injected_429_and_503(arm: Arm, emulator: Emulator) -> None:
    emulator.control("POST", "faults", "429=1.0")
    answer = arm.call("GET", gallery_path("gal"))
    assert answer.status == 429
    assert answer.headers["retry-after"] == "1"
    assert answer.code == "TooManyRequests"
    emulator.control("POST", "faults", {"spec": "503=1.0"})
    answer = arm.call("GET", gallery_path("gal"))
    assert answer.status == 503
    assert answer.code == "ServiceUnavailable"
    assert emulator.stats()["faults"] == 2


def test_reset_fault_drops_the_connection(arm: Arm, emulator: Emulator, compute: Any) -> None:
    emulator.control("POST", "faults", "reset=1.0")
    with pytest.raises(OSError):
        arm.call("GET", gallery_path("gal"))
    compute._config.retry_policy.total_retries = 1
    compute._config.retry_policy.read_retries = 1
    compute._config.retry_policy.backoff_factor = 0.01
    with pytest.raises((ServiceResponseError, ServiceRequestError)):
        compute.galleries.get(RG, "gal")
    assert emulator.stats()["faults"] >= 2
    emulator.control("POST", "faults", "")
    assert arm.call("GET", gallery_path("gal")).status == 404


def test_lro_fail_ends_a_version_create_failed(arm: Arm, emulator: Emulator, compute: Any) -> None:
    make_image(arm)
    emulator.control("POST", "faults", "lro-fail=1.0")
    poller = compute.gallery_image_versions.begin_create_or_update(
        RG, "gal", "img", "1.0.0", version_body(regions=["westeurope", "eastus"])
    )
    advance(emulator, 61)
    with pytest.raises(HttpResponseError) as caught:
        poller.result(timeout=30)
    assert "InternalExecutionError" in str(caught.value)
    version = compute.gallery_image_versions.get(RG, "gal", "img", "1.0.0", expand="ReplicationStatus")
    assert version.provisioning_state == "Failed"
    assert version.replication_status.aggregated_state == "Failed"
    # A failed version can be retried: the update replicates the failed regions again.
    emulator.control("POST", "faults", "")
    retry = compute.gallery_image_versions.begin_update(RG, "gal", "img", "1.0.0", {"tags": {"retry": "1"}})
    advance(emulator, 61)
    assert retry.result(timeout=30).provisioning_state == "Succeeded"


def test_faults_are_reproducible_with_a_seed(extra_emulator: Callable[..., Emulator]) -> None:
    emu = extra_emulator("--faults", "500=0.5", "--seed", "7")
    arm = Arm(emu)

    def run() -> list[int]:
        return [arm.call("GET", gallery_path("gal")).status for _ in range(20)]

    first = run()
    emu.reset()
    assert run() == first
    assert set(first) == {404, 500}


def test_bad_fault_spec_is_rejected(arm: Arm, emulator: Emulator) -> None:
    answer = arm.call("POST", f"{emulator.endpoint}/_emulator/faults", {"spec": "418=0.5"}, api_version=None)
    assert answer.status == 400
