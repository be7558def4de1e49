"""Image Builder templates and runs (azure-mgmt-imagebuilder 2.0), the Event Grid topic endpoint
(azure-eventgrid 4.22) and virtual machines / scale sets (azure-mgmt-compute 39) against the emulator."""

from __future__ import annotations

from typing import Any

import pytest
from azure.core.credentials import AzureKeyCredential
from azure.core.exceptions import HttpResponseError

from tests.emulator.conftest import RG, SUB, Arm, advance
from tests.harness.builders import image_template_body
from tests.harness.services import Emulator

pytestmark = pytest.mark.integration

TEMPLATES = (
    f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.VirtualMachineImages/imageTemplates"
)
IMAGE_ID = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Compute/galleries/gal/images/ubuntu"


@pytest.fixture()
def imagebuilder(emulator: Emulator) -> Any:
    return emulator.imagebuilder(SUB)


def _template(tags: dict[str, str] | None = None) -> dict[str, Any]:
    return image_template_body(SUB, RG, IMAGE_ID, location="westeurope", tags=tags)


def test_image_builder_run_succeeds_on_the_virtual_clock(imagebuilder: Any, emulator: Emulator) -> None:
    created = imagebuilder.virtual_machine_image_templates.begin_create_or_update(
        RG, "tpl", _template()
    ).result()
    assert created.provisioning_state == "Succeeded"
    assert created.last_run_status is None

    poller = imagebuilder.virtual_machine_image_templates.begin_run(RG, "tpl")
    status = imagebuilder.virtual_machine_image_templates.get(RG, "tpl").last_run_status
    assert status.run_state == "Running"
    assert status.run_sub_state == "Building"
    assert status.start_time is not None
    with pytest.raises(HttpResponseError) as caught:  # one run at a time
        imagebuilder.virtual_machine_image_templates.begin_run(RG, "tpl")
    assert caught.value.status_code == 409

    advance(emulator, 61)
    assert poller.result(timeout=30) is None
    status = imagebuilder.virtual_machine_image_templates.get(RG, "tpl").last_run_status
    assert status.run_state == "Succeeded"
    assert status.end_time > status.start_time
    templates = list(imagebuilder.virtual_machine_image_templates.list_by_resource_group(RG))
    assert [t.name for t in templates] == ["tpl"]
    ops = emulator.stats()["by_operation"]
    assert ops["POST Microsoft.VirtualMachineImages/imageTemplates/run"] == 2
    assert ops["GET Microsoft.VirtualMachineImages/locations/operations"] >= 1


def test_image_builder_run_fails_with_the_outcome_tag(imagebuilder: Any, emulator: Emulator) -> None:
    imagebuilder.virtual_machine_image_templates.begin_create_or_update(
        RG, "tpl", _template({"emulator.runOutcome": "Failed"})
    ).result()
    poller = imagebuilder.virtual_machine_image_templates.begin_run(RG, "tpl")
    advance(emulator, 61)
    with pytest.raises(HttpResponseError):
        poller.result(timeout=30)
    status = imagebuilder.virtual_machine_image_templates.get(RG, "tpl").last_run_status
    assert status.run_state == "Failed"
    assert "emulator.runOutcome" in status.message


def test_image_builder_run_of_a_missing_template_is_404(arm: Arm) -> None:
    answer = arm.call("POST", f"{TEMPLATES}/nope/run", api_version="2025-10-01")
    assert answer.status == 404
    assert answer.code == "ResourceNotFound"
    answer = arm.call("GET", f"{TEMPLATES}/nope", api_version="2026-03-03")
    assert answer.code == "InvalidApiVersionParameter"


def test_event_grid_publisher_lands_in_the_recorded_events(emulator: Emulator, monkeypatch: Any) -> None:
    from azure.core.messaging import CloudEvent
    from azure.eventgrid import EventGridEvent, EventGridPublisherClient

    # azure-eventgrid 4.22 builds its legacy (basic topic) client without the caller's kwargs, so
    # `connection_verify` and `transport` never reach the pipeline. requests still reads REQUESTS_CA_BUNDLE
    # when verify is left at True, so the emulator's CA is trusted through the environment.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", emulator.ca_bundle)
    client = EventGridPublisherClient(f"{emulator.endpoint}/api/events", AzureKeyCredential("topic-key"))
    client.send(
        [
            CloudEvent(
                source="/lifecycle",
                type="ImageLifecycle.VersionReplicated",
                data={"imageVersionId": f"{IMAGE_ID}/versions/1.0.0"},
                subject="1.0.0",
            )
        ]
    )
    client.send(
        EventGridEvent(
            subject="1.0.0", event_type="ImageLifecycle.RebakeRequested", data={"a": 1}, data_version="1.0"
        )
    )
    events = emulator.events()
    assert [e.get("type") or e.get("eventType") for e in events] == [
        "ImageLifecycle.VersionReplicated",
        "ImageLifecycle.RebakeRequested",
    ]
    assert events[0]["specversion"] == "1.0"
    assert events[0]["data"] == {"imageVersionId": f"{IMAGE_ID}/versions/1.0.0"}
    assert emulator.stats()["by_operation"]["POST Microsoft.EventGrid/events"] == 2


def test_event_grid_endpoint_auth_and_validation(arm: Arm, emulator: Emulator) -> None:
    event = {"id": "1", "source": "/x", "type": "T", "specversion": "1.0", "data": {}}
    url = f"{emulator.endpoint}/api/events?api-version=2018-01-01"
    assert arm.call("POST", url, [event], auth=False).status == 401
    assert arm.call("POST", url, [event], auth=False, headers={"aeg-sas-key": "k"}).status == 200
    assert arm.call("POST", url, [event]).status == 200  # bearer token
    assert arm.call("POST", url, [{"id": "2"}], auth=False, headers={"aeg-sas-key": "k"}).status == 400
    assert len(emulator.events()) == 2


def test_virtual_machines_and_scale_sets_keep_their_image_reference(compute: Any) -> None:
    version_id = f"{IMAGE_ID}/versions/1.0.0"
    vm = compute.virtual_machines.begin_create_or_update(
        RG,
        "vm1",
        {
            "location": "westeurope",
            "properties": {
                "hardwareProfile": {"vmSize": "Standard_D2s_v5"},
                "storageProfile": {"imageReference": {"id": version_id}},
            },
        },
    ).result()
    assert vm.provisioning_state == "Succeeded"
    assert vm.storage_profile.image_reference.id == version_id
    assert vm.vm_id
    vmss = compute.virtual_machine_scale_sets.begin_create_or_update(
        "rg-other",
        "ss1",
        {
            "location": "westeurope",
            "sku": {"name": "Standard_D2s_v5", "capacity": 2},
            "properties": {
                "virtualMachineProfile": {"storageProfile": {"imageReference": {"id": version_id}}}
            },
        },
    ).result()
    assert vmss.virtual_machine_profile.storage_profile.image_reference.id == version_id
    assert [v.name for v in compute.virtual_machines.list_all()] == ["vm1"]
    assert [v.name for v in compute.virtual_machines.list(RG)] == ["vm1"]
    assert [s.name for s in compute.virtual_machine_scale_sets.list_all()] == ["ss1"]
    assert list(compute.virtual_machine_scale_sets.list(RG)) == []
    assert compute.virtual_machine_scale_sets.get("rg-other", "ss1").sku.capacity == 2
    compute.virtual_machines.begin_delete(RG, "vm1").result()
    assert list(compute.virtual_machines.list_all()) == []
