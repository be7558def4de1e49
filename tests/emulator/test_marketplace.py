"""Marketplace image versions (VirtualMachineImages_List / _Get) through azure-mgmt-compute 39 and raw HTTPS,
against the shapes of ComputeRP's spec examples."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import ResourceNotFoundError

from tests.emulator.conftest import SUB, Arm
from tests.harness.services import Emulator

pytestmark = pytest.mark.integration

BASE = (
    f"/subscriptions/{SUB}/providers/Microsoft.Compute/locations/westeurope/publishers/Canonical"
    "/artifacttypes/vmimage/offers/ubuntu-24_04-lts/skus/server/versions"
)
API = "2026-04-01"  # what azure-mgmt-compute 39 sends for VirtualMachineImages


def publish(emulator: Emulator, version: str, **overrides: str) -> Any:
    """Publish one version; the control endpoint's answer (status, body)."""
    body = {
        "location": "westeurope",
        "publisher": "Canonical",
        "offer": "ubuntu-24_04-lts",
        "sku": "server",
        "version": version,
        **overrides,
    }
    return Arm(emulator).call("POST", "/_emulator/marketplace", body, api_version=None)


def test_list_and_get_through_the_sdk(emulator: Emulator) -> None:
    for version in ("2024.10.1", "2024.10.10", "2024.10.2"):
        publish(emulator, version)
    compute = emulator.compute(SUB)
    listed = compute.virtual_machine_images.list("westeurope", "Canonical", "ubuntu-24_04-lts", "server")
    assert sorted(v.name for v in listed) == ["2024.10.1", "2024.10.10", "2024.10.2"]
    assert listed[0].id.startswith(f"/Subscriptions/{SUB}/Providers/Microsoft.Compute/Locations/westeurope/")
    assert listed[0].location == "westeurope"
    images = compute.virtual_machine_images
    one = images.get("westeurope", "canonical", "Ubuntu-24_04-LTS", "server", "2024.10.10")
    assert one.name == "2024.10.10"
    assert one.os_disk_image.operating_system == "Linux"
    ops = emulator.stats()["by_operation"]
    assert ops["GET Microsoft.Compute/locations/publishers/artifacttypes/offers/skus/versions"] == 2


def test_unknown_sku_or_version_is_azures_404(emulator: Emulator) -> None:
    publish(emulator, "2024.10.1")
    compute = emulator.compute(SUB)
    with pytest.raises(ResourceNotFoundError) as caught:
        compute.virtual_machine_images.list("westeurope", "Canonical", "ubuntu-24_04-lts", "nope")
    assert caught.value.error.code == "NotFound"
    assert caught.value.error.message == "Artifact: VMImage was not found."
    with pytest.raises(ResourceNotFoundError):
        compute.virtual_machine_images.get("westeurope", "Canonical", "ubuntu-24_04-lts", "server", "9.9.9")
    with pytest.raises(ResourceNotFoundError):  # published in one region only
        compute.virtual_machine_images.list("eastus", "Canonical", "ubuntu-24_04-lts", "server")


def test_raw_list_is_a_bare_array_in_string_order_with_top_and_orderby(emulator: Emulator) -> None:
    for version in ("2024.10.2", "2024.10.10", "2024.10.1"):
        publish(emulator, version)
    arm = Arm(emulator)
    answer = arm.call("GET", BASE, api_version=API)
    assert answer.status == 200
    assert isinstance(answer.body, list)
    assert [v["name"] for v in answer.body] == ["2024.10.1", "2024.10.10", "2024.10.2"]
    top = arm.call("GET", BASE, api_version=API, **{"$orderby": "name%20desc", "$top": "1"})
    assert [v["name"] for v in top.body] == ["2024.10.2"]
    expanded = arm.call("GET", BASE, api_version=API, **{"$expand": "properties"})
    assert set(expanded.body) == {"value"}
    assert expanded.body["value"][0]["properties"]["osDiskImage"]["operatingSystem"] == "Linux"
    assert arm.call("PUT", f"{BASE}/1.0.0", {}, api_version=API).status == 405
    assert arm.call("GET", BASE, api_version="2019-01-01").status == 400


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"version": "latest"}, "Major.Minor.Build"),
        ({"version": "1.2"}, "Major.Minor.Build"),
        ({"location": "westeurpoe"}, "Unknown location"),
        ({"sku": "a/b"}, "not a valid name"),
        ({"offer": ""}, "non-empty"),
    ],
    ids=["latest", "two-parts", "region", "slash", "empty"],
)
def test_publish_refuses_bad_input(emulator: Emulator, overrides: dict[str, str], problem: str) -> None:
    version = overrides.pop("version", "1.0.0")
    answer = publish(emulator, version, **overrides)
    assert answer.status == 400
    assert problem in answer.body["error"]["message"]
    assert emulator.control("GET", "marketplace") == []


def test_publish_twice_conflicts_and_reset_forgets(emulator: Emulator) -> None:
    assert publish(emulator, "1.0.0").status == 201
    again = publish(emulator, "1.0.0")
    assert again.status == 409
    assert "already published" in again.body["error"]["message"]
    assert emulator.control("GET", "marketplace") == [
        {"location": "westeurope", "urn": "Canonical:ubuntu-24_04-lts:server:1.0.0"}
    ]
    emulator.reset()
    assert emulator.control("GET", "marketplace") == []


def test_bodies_have_the_spec_examples_keys(emulator: Emulator, reference_dir: Path) -> None:
    publish(emulator, "2024.10.1")
    arm = Arm(emulator)
    examples = reference_dir / "arm-spec" / "examples" / "computeExamples"
    listed = json.loads((examples / "VirtualMachineImage_List_MinimumSet_Gen.json").read_text())
    want_item = listed["responses"]["200"]["body"][0]
    got = arm.call("GET", BASE, api_version=API).body
    assert isinstance(listed["responses"]["200"]["body"], list) and isinstance(got, list)
    assert set(want_item) <= set(got[0])
    single = json.loads((examples / "VirtualMachineImage_Get_MinimumSet_Gen.json").read_text())
    got_one = arm.call("GET", f"{BASE}/2024.10.1", api_version=API).body
    assert set(single["responses"]["200"]["body"]) <= set(got_one)
    full = json.loads((examples / "VirtualMachineImage_Get_MaximumSet_Gen.json").read_text())
    # Real answers also carry `architecture` and `replicaType`, which the generated example lacks
    # (cli-recordings/test_shared_gallery.yaml interaction 11).
    recorded = {"architecture", "replicaType"}
    assert set(got_one["properties"]) <= set(full["responses"]["200"]["body"]["properties"]) | recorded


def test_expanded_list_has_the_list_with_properties_example_shape(
    emulator: Emulator, reference_dir: Path
) -> None:
    publish(emulator, "2024.10.1")
    example = json.loads(
        (
            reference_dir
            / "arm-spec"
            / "examples"
            / "computeExamples"
            / "VirtualMachineImages_ListWithProperties_MaximumSet_Gen.json"
        ).read_text()
    )
    want = example["responses"]["200"]["body"]
    got = Arm(emulator).call("GET", BASE, api_version=API, **{"$expand": "Properties"}).body
    assert isinstance(want, dict) and isinstance(got, dict) and "value" in want and "value" in got
    assert {"name", "location", "id"} <= set(want["value"][0]) and {"name", "location", "id"} <= set(
        got["value"][0]
    )
    # `replicaType` is in real answers (cli-recordings/test_shared_gallery.yaml interaction 11).
    assert set(got["value"][0]["properties"]) <= set(want["value"][0]["properties"]) | {"replicaType"}
