"""Image Builder beyond runs: the defaults Azure fills into a template (as recorded), the gallery image
version a successful run publishes, runOutputs and source-image triggers (raw HTTPS)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.emulator.conftest import RG, SUB, Arm, advance, gallery_path, image_body
from tests.harness.builders import image_template_body
from tests.harness.services import Emulator

pytestmark = pytest.mark.integration

IB_API = "2022-07-01"
TEMPLATE = (
    f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.VirtualMachineImages/imageTemplates/tpl"
)
IMAGE = f"{gallery_path('gal')}/images/ubuntu"


def _gallery(arm: Arm) -> None:
    arm.wait(arm.call("PUT", gallery_path("gal"), {"location": "westeurope"}))
    arm.wait(arm.call("PUT", IMAGE, image_body()))


def _template(arm: Arm, **distribute: Any) -> dict[str, Any]:
    body = image_template_body(SUB, RG, IMAGE, location="westeurope")
    body["properties"]["distribute"][0].update(distribute)
    answer = arm.call("PUT", TEMPLATE, body, api_version=IB_API)
    assert answer.status == 201, answer.body
    arm.wait(answer)
    return dict(arm.call("GET", TEMPLATE, api_version=IB_API).body)


def _run(arm: Arm, emulator: Emulator) -> None:
    assert arm.call("POST", f"{TEMPLATE}/run", api_version=IB_API).status == 202
    advance(emulator, emulator.control("GET", "config")["replication_seconds"] + 1)


def test_a_template_reads_back_with_the_defaults_azure_fills_in(arm: Arm) -> None:
    template = _template(arm)["properties"]
    # cli-recordings/test_image_builder_basic_sig.yaml interaction 20 (the body sets only the VM size).
    assert template["vmProfile"] == {"vmSize": "Standard_D2s_v5", "osDiskSizeGB": 0}
    assert template["stagingResourceGroup"] == ""
    assert template["source"]["exactVersion"] == "latest"  # no platform image published to resolve it
    [distribution] = template["distribute"]
    assert distribution["artifactTags"] == {} and distribution["versioning"] is None
    assert distribution["excludeFromLatest"] is False


def test_a_successful_run_publishes_its_version_and_reports_it_in_run_outputs(
    arm: Arm, emulator: Emulator
) -> None:
    _gallery(arm)
    _template(arm, replicationRegions=["westeurope", "northeurope"], artifactTags={"build": "42"})
    assert arm.call("GET", f"{TEMPLATE}/runOutputs", api_version=IB_API).body["value"] == []
    _run(arm, emulator)
    versions = arm.call("GET", f"{IMAGE}/versions").body["value"]
    assert [v["name"] for v in versions] == ["0.0.1"]
    [version] = versions
    regions = [r["name"] for r in version["properties"]["publishingProfile"]["targetRegions"]]
    assert regions == ["West Europe", "North Europe"] and version["tags"] == {"build": "42"}
    outputs = arm.call("GET", f"{TEMPLATE}/runOutputs", api_version=IB_API).body["value"]
    assert [o["name"] for o in outputs] == ["ubuntu"]
    assert outputs[0]["properties"] == {"artifactId": version["id"], "provisioningState": "Succeeded"}
    one = arm.call("GET", f"{TEMPLATE}/runOutputs/ubuntu", api_version=IB_API)
    assert (
        one.status == 200 and one.body["type"] == "Microsoft.VirtualMachineImages/imageTemplates/runOutputs"
    )
    assert arm.call("GET", f"{TEMPLATE}/runOutputs/other", api_version=IB_API).status == 404

    # The next run takes the next patch number (versioning Latest, the default).
    advance(emulator, emulator.control("GET", "config")["replication_seconds"] * 3)  # it replicates
    _run(arm, emulator)
    names = [v["name"] for v in arm.call("GET", f"{IMAGE}/versions").body["value"]]
    assert names == ["0.0.1", "0.0.2"]


def test_latest_versioning_follows_its_major(arm: Arm, emulator: Emulator) -> None:
    _gallery(arm)
    _template(arm, versioning={"scheme": "Latest", "major": 3})
    _run(arm, emulator)
    assert [v["name"] for v in arm.call("GET", f"{IMAGE}/versions").body["value"]] == ["3.0.1"]


def test_triggers_need_a_gallery_source_addressed_as_latest(arm: Arm) -> None:
    _gallery(arm)
    _template(arm)
    trigger = {"properties": {"kind": "SourceImage"}}
    refused = arm.call("PUT", f"{TEMPLATE}/triggers/source", trigger, api_version=IB_API)
    assert refused.status == 400 and refused.code == "InvalidParameter"

    body = image_template_body(SUB, RG, IMAGE, location="westeurope")
    body["properties"]["source"] = {
        "type": "SharedImageVersion",
        "imageVersionId": f"{IMAGE}/versions/latest",
    }
    arm.wait(arm.call("PUT", TEMPLATE, body, api_version=IB_API))
    created = arm.call("PUT", f"{TEMPLATE}/triggers/source", trigger, api_version=IB_API)
    assert created.status == 201, created.body
    assert created.body["properties"]["kind"] == "SourceImage"
    assert created.body["properties"]["status"]["code"] == "Healthy"
    listed = arm.call("GET", f"{TEMPLATE}/triggers", api_version=IB_API).body["value"]
    assert [t["name"] for t in listed] == ["source"]
    assert arm.call("DELETE", f"{TEMPLATE}/triggers/source", api_version=IB_API).status == 202
    assert arm.call("GET", f"{TEMPLATE}/triggers/source", api_version=IB_API).status == 404
