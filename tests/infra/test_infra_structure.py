"""The shape of infra/: described parameters, least-privilege roles, composition-only main.bicep, the app
settings and Event Grid wiring the app relies on, and an azd project that deploys it."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml

from tests.infra.conftest import INFRA, REPO

OWNER = "8e3af657-a8ff-404c-8c23-7d6cc6f5f3b5"
CONTRIBUTOR = "b24988ac-6180-49dd-8a48-2dbb59cf5f4c"
USER_ACCESS_ADMINISTRATOR = "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9"

# Built-in roles the deployment may hand out, each on one resource (see modules/roles-app.bicep).
ALLOWED_BUILT_IN_ROLES = {
    "ba92f5b4-2d11-453d-a403-e96b0029c9fe": "Storage Blob Data Contributor",
    "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1": "Storage Blob Data Reader",
    "974c5e8b-45b9-4653-ba55-5f855dd0fb88": "Storage Queue Data Contributor",
    "d5a91429-5739-47e2-a06b-3470a27159e7": "EventGrid Data Sender",
    "3913510d-42f4-4e42-8a64-420c390055eb": "Monitoring Metrics Publisher",
}

APP_SETTINGS = {
    "LIFECYCLE_CONFIG_URL",
    "LIFECYCLE_STATE_URL",
    "LIFECYCLE_ARM_ENDPOINT",
    "LIFECYCLE_EVENTS_ENDPOINT",
    "LIFECYCLE_SWEEP_SCHEDULE",
    "AZURE_CLIENT_ID",
    "AzureWebJobsStorage__accountName",
    "AzureWebJobsStorage__credential",
    "AzureWebJobsStorage__clientId",
    "APPLICATIONINSIGHTS_CONNECTION_STRING",
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
    "PYTHON_ISOLATE_WORKER_DEPENDENCIES",
    "LIFECYCLE_QUEUE__queueServiceUri",
    "LIFECYCLE_QUEUE__credential",
    "LIFECYCLE_QUEUE__clientId",
}

GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
BUILT_IN_ROLE_REFERENCE = re.compile(
    r"subscriptionResourceId\(\s*'Microsoft\.Authorization/roleDefinitions'\s*,\s*'([^']+)'\s*\)"
)


def _body(declaration: dict[str, Any]) -> dict[str, Any]:
    """The resource or module body, unwrapped from pycep's loop and condition envelopes."""
    config: dict[str, Any] = declaration["config"]
    while "config" in config and ("loop_type" in config or "condition" in config):
        config = config["config"]
    return config


def _resources(templates: dict[str, dict[str, Any]], type_: str) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (file, name, resource)
        for file, template in templates.items()
        for name, resource in (template.get("resources") or {}).items()
        if resource["type"].lower() == type_.lower() and not resource.get("existing")
    ]


def _bicep_sources() -> dict[str, str]:
    return {p.relative_to(INFRA).as_posix(): p.read_text(encoding="utf-8") for p in INFRA.rglob("*.bicep")}


def test_every_parameter_has_a_description(templates: dict[str, dict[str, Any]]) -> None:
    missing = [
        f"{file}: {name}"
        for file, template in templates.items()
        for name, parameter in (template.get("parameters") or {}).items()
        if not any(
            d["type"] == "description" and str(d.get("argument") or "").strip()
            for d in parameter.get("decorators", [])
        )
    ]
    assert not missing, "parameters without @description: " + ", ".join(missing)


def test_every_output_has_a_description(templates: dict[str, dict[str, Any]]) -> None:
    missing = [
        f"{file}: {name}"
        for file, template in templates.items()
        for name, output in (template.get("outputs") or {}).items()
        if not any(d["type"] == "description" for d in output.get("decorators", []))
    ]
    assert not missing, "outputs without @description: " + ", ".join(missing)


@pytest.mark.parametrize(
    "role_id",
    [
        pytest.param(OWNER, id="owner"),
        pytest.param(CONTRIBUTOR, id="contributor"),
        pytest.param(USER_ACCESS_ADMINISTRATOR, id="user-access-administrator"),
    ],
)
def test_no_broad_built_in_role_anywhere(role_id: str) -> None:
    for file, text in _bicep_sources().items():
        assert role_id not in text.lower(), f"{file} references built-in role {role_id}"


def test_only_the_expected_built_in_roles_are_assigned() -> None:
    referenced = {
        role.lower() for text in _bicep_sources().values() for role in BUILT_IN_ROLE_REFERENCE.findall(text)
    }
    assert referenced <= set(ALLOWED_BUILT_IN_ROLES), (
        f"unexpected roles: {referenced - set(ALLOWED_BUILT_IN_ROLES)}"
    )
    assert referenced == set(ALLOWED_BUILT_IN_ROLES)


def test_role_assignments_live_in_the_roles_modules_looped_and_guid_named(
    templates: dict[str, dict[str, Any]],
) -> None:
    assignments = _resources(templates, "Microsoft.Authorization/roleAssignments")
    assert assignments
    for file, name, resource in assignments:
        assert re.fullmatch(r"modules/roles-[a-z-]+\.bicep", file), (
            f"{file}: {name} is outside the roles modules"
        )
        assert "loop_type" in resource["config"], f"{file}: {name} is not a loop"
        assert _body(resource)["name"]["function"]["type"] == "guid", f"{file}: {name} is not named by guid()"


def test_role_assignments_are_scoped_to_resources_not_the_resource_group(
    templates: dict[str, dict[str, Any]],
) -> None:
    # In the app's resource group every assignment names the storage account, a container, the topic or
    # Application Insights; only the galleries' resource groups get a resource-group-wide assignment.
    for file, name, resource in _resources(templates, "Microsoft.Authorization/roleAssignments"):
        if file == "modules/roles-app.bicep":
            assert "scope" in _body(resource), f"{name} has no resource scope"


def test_dead_letter_writers_get_the_dead_letter_container_only() -> None:
    text = (INFRA / "modules" / "roles-app.bicep").read_text(encoding="utf-8")
    block = text[text.index("resource deadLetterRoles") :]
    block = block[: block.index("\n]\n")]
    assert "scope: deadLetterContainer\n" in block


def test_custom_roles_hold_only_the_actions_they_are_given(templates: dict[str, dict[str, Any]]) -> None:
    # Which actions, at which scopes: tests/infra/test_infra_permissions.py compares them with `permissions`.
    definitions = _resources(templates, "Microsoft.Authorization/roleDefinitions")
    assert [file for file, _, _ in definitions] == ["modules/role-definition.bicep"]
    file, _, definition = definitions[0]
    assert templates[file]["globals"]["scope"]["value"] == "subscription"
    permissions = _body(definition)["properties"]["permissions"]
    assert permissions == [{"actions": "actions", "notActions": [], "dataActions": [], "notDataActions": []}]
    assert _body(definition)["properties"]["assignableScopes"] == "assignableScopes"


def test_custom_role_is_assignable_at_the_galleries_resource_groups_only() -> None:
    main = (INFRA / "main.bicep").read_text(encoding="utf-8")
    assert re.search(
        r"assignableScopes: \[for (\w+) in galleryResourceGroupNames: "
        r"'\$\{subscription\(\)\.id\}/resourceGroups/\$\{\1\}'\]",
        main,
    )


def test_main_composes_modules_only(templates: dict[str, dict[str, Any]]) -> None:
    main = templates["main.bicep"]
    assert main["globals"]["scope"]["value"] == "subscription"
    resource_types = {r["type"] for r in (main.get("resources") or {}).values()}
    assert resource_types == {"Microsoft.Resources/resourceGroups"}
    assert len(main["modules"]) >= 8


def test_every_module_reference_exists(templates: dict[str, dict[str, Any]]) -> None:
    for file, template in templates.items():
        for name, module in (template.get("modules") or {}).items():
            target = (INFRA / file).parent / module["detail"]["path"]
            assert target.is_file(), f"{file}: module {name} -> {target}"


def test_function_app_is_flex_consumption_python_with_its_user_assigned_identity(
    templates: dict[str, dict[str, Any]],
) -> None:
    [(_, _, plan)] = _resources(templates, "Microsoft.Web/serverfarms")
    assert _body(plan)["sku"] == {"name": "FC1", "tier": "FlexConsumption"}
    [(_, _, site)] = _resources(templates, "Microsoft.Web/sites")
    body = _body(site)
    assert body["identity"]["type"] == "UserAssigned"
    config = body["properties"]["functionAppConfig"]
    assert config["runtime"] == {"name": "python", "version": "3.11"}
    assert config["deployment"]["storage"]["type"] == "blobContainer"
    assert config["deployment"]["storage"]["authentication"]["type"] == "UserAssignedIdentity"


def test_function_app_settings(templates: dict[str, dict[str, Any]]) -> None:
    settings = templates["modules/function-app.bicep"]["variables"]["generatedAppSettings"]["value"]
    assert set(settings) >= APP_SETTINGS
    assert settings["AzureWebJobsStorage__credential"] == "managedidentity"
    assert settings["AzureWebJobsStorage__clientId"] == settings["AZURE_CLIENT_ID"] == "identityClientId"
    assert settings["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"] == (
        "ClientId=${identityClientId};Authorization=AAD"
    )
    assert settings["LIFECYCLE_CONFIG_URL"] == "${blobEndpoint}${configContainerName}/${policyBlobName}"
    assert settings["LIFECYCLE_STATE_URL"] == "${blobEndpoint}${stateContainerName}"
    # The Flex Consumption plan rejects these: the runtime is set in functionAppConfig.
    assert "FUNCTIONS_WORKER_RUNTIME" not in settings
    assert "FUNCTIONS_EXTENSION_VERSION" not in settings
    # No key-based connection string for the host storage, which is an account of its own.
    assert "AzureWebJobsStorage" not in settings
    assert settings["AzureWebJobsStorage__accountName"] == "hostStorageAccountName"
    # The worker must load the app's azure-functions (CloudEvents need >= 1.25), not its bundled copy.
    assert settings["PYTHON_ISOLATE_WORKER_DEPENDENCIES"] == "1"


def test_schedule_defaults(templates: dict[str, dict[str, Any]]) -> None:
    parameters = templates["main.bicep"]["parameters"]
    assert parameters["sweepSchedule"]["default"] == "0 */15 * * * *"
    assert "rebakeSchedule" not in parameters  # rebakes are evaluated on every sweep


def test_storage_accounts_are_identity_only(templates: dict[str, dict[str, Any]]) -> None:
    accounts = _resources(templates, "Microsoft.Storage/storageAccounts")
    assert sorted(file for file, _, _ in accounts) == ["modules/host-storage.bicep", "modules/storage.bicep"]
    for _, _, account in accounts:
        properties = _body(account)["properties"]
        assert properties["allowSharedKeyAccess"] is False
        assert properties["allowBlobPublicAccess"] is False
        assert properties["minimumTlsVersion"] == "TLS1_2"
        assert properties["supportsHttpsTrafficOnly"] is True
        assert properties["publicNetworkAccess"] == "publicNetworkAccess"  # a parameter
    defaults = {
        name: parameter.get("default")
        for name, parameter in templates["modules/storage.bicep"]["parameters"].items()
    }
    assert defaults["configContainerName"] == "lifecycle-config"
    assert defaults["stateContainerName"] == "lifecycle-state"
    assert defaults["deadLetterContainerName"] == "deadletter"
    containers = _resources(templates, "Microsoft.Storage/storageAccounts/blobServices/containers")
    assert len(containers) == 4
    assert all(_body(c)["properties"]["publicAccess"] == "None" for _, _, c in containers)


def _assignments_of(text: str, block: str) -> str:
    start = text.index(f"resource {block} ")
    return text[start : text.index("\n]\n", start)]


@pytest.mark.parametrize(
    ("block", "principals", "role", "scope"),
    [
        ("configReaderRoles", "[appPrincipalId]", "storageBlobDataReader", "configContainer"),
        ("stateWriterRoles", "[appPrincipalId]", "storageBlobDataContributor", "stateContainer"),
        ("hostStorageRoles", "[appPrincipalId]", "storageBlobDataContributor", "hostStorage"),
        (
            "packageWriterRoles",
            "[deploymentPrincipalId]",
            "storageBlobDataContributor",
            "deploymentContainer",
        ),
        ("lifecycleSenderRoles", "[appPrincipalId]", "eventGridDataSender", "lifecycleTopic"),
        ("appInsightsRoles", "[appPrincipalId]", "monitoringMetricsPublisher", "appInsights"),
        ("policyEditorRoles", "policyEditorPrincipalIds", "storageBlobDataContributor", "configContainer"),
    ],
)
def test_each_data_role_sits_on_one_resource(block: str, principals: str, role: str, scope: str) -> None:
    text = _assignments_of((INFRA / "modules" / "roles-app.bicep").read_text(encoding="utf-8"), block)
    assert f"for principalId in {principals}:" in text
    assert f"roleDefinitionId: {role}\n" in text
    assert f"scope: {scope}\n" in text


def test_the_app_may_use_the_fan_out_queues_and_no_other() -> None:
    text = _assignments_of((INFRA / "modules" / "roles-app.bicep").read_text(encoding="utf-8"), "queueRoles")
    assert "for (name, i) in queueNames:" in text and "scope: queues[i]\n" in text
    assert "roleDefinitionId: storageQueueDataContributor\n" in text
    main = (INFRA / "main.bicep").read_text(encoding="utf-8")
    assert (
        "queueNames: [\n      storage.outputs.fanoutQueueName\n      storage.outputs.poisonQueueName\n    ]"
        in main
    )


def test_the_app_never_writes_its_policy_or_its_package() -> None:
    text = (INFRA / "modules" / "roles-app.bicep").read_text(encoding="utf-8")
    blocks = [b.split(" ", 1)[0] for b in text.split("\nresource ")[1:] if "roleAssignments@" in b]
    for block in blocks:
        body = _assignments_of(text, block)
        if "appPrincipalId" in body:
            assert "scope: deploymentContainer\n" not in body, block
            assert not ("scope: configContainer\n" in body and "storageBlobDataContributor\n" in body), block


def test_the_app_sends_to_the_lifecycle_topic_and_the_function_listens_to_the_sender_topics() -> None:
    main = (INFRA / "main.bicep").read_text(encoding="utf-8")
    app = main[main.index("module functionApp") :]
    assert "eventsEndpoint: lifecycleTopic.outputs.endpoint" in app[: app.index("\n}\n")]
    lifecycle = main[main.index("module lifecycleTopic") :]
    assert (
        "deadLetterIdentity: false" in lifecycle[: lifecycle.index("\n}\n")]
    )  # nothing subscribes to it here
    builds = main[main.index("module buildTopics") :]
    builds = builds[: builds.index("\n]\n")]
    assert "for system in buildSystems:" in builds
    assert "name: 'evgt-build-${system.name}-${resourceToken}'" in builds
    assert "eventTypes: [\n        'ImageLifecycle.BuildCompleted'\n      ]" in builds
    approvals = main[main.index("module approvalsTopic") :]
    approvals = approvals[: approvals.index("\n}\n")]
    assert "name: 'evgt-approvals-${resourceToken}'" in approvals
    assert "eventTypes: [\n      'ImageLifecycle.VersionApproved'\n    ]" in approvals


def test_each_sender_is_data_sender_on_its_own_topic_only(templates: dict[str, dict[str, Any]]) -> None:
    # roles-sender-topic.bicep assigns on the one topic it is given; main.bicep gives each build system's
    # principals their own system's topic and the approvers the approvals topic, and nobody else anything.
    text = (INFRA / "modules" / "roles-sender-topic.bicep").read_text(encoding="utf-8")
    block = _assignments_of(text, "senderRoles")
    assert "for principalId in senderPrincipalIds:" in block
    assert "roleDefinitionId: eventGridDataSender\n" in block and "scope: topic\n" in block
    modules = templates["main.bicep"]["modules"]
    senders = {n: m for n, m in modules.items() if m["detail"]["path"] == "modules/roles-sender-topic.bicep"}
    assert set(senders) == {"buildSenders", "approvalSenders"}
    build = _body(senders["buildSenders"])["params"]
    assert senders["buildSenders"]["config"]["loop_type"]["detail"] == {
        "item_name": "system",
        "index_name": "i",
        "array_name": "buildSystems",
    }
    assert build["senderPrincipalIds"] == {
        "operator": {
            "type": "property_accessor",
            "operands": {"operand_1": "system", "operand_2": "senderPrincipalIds"},
        }
    }
    topic = build["topicName"]["operator"]["operands"]["operand_1"]["operator"]
    assert topic == {"type": "index_accessor", "operands": {"operand_1": "buildTopics", "operand_2": "i"}}
    approvals = _body(senders["approvalSenders"])["params"]
    assert approvals["senderPrincipalIds"] == "approverPrincipalIds"
    assert approvals["topicName"]["operator"]["operands"]["operand_1"] == "approvalsTopic"
    # No other module hands out EventGrid Data Sender: the app's own is on the lifecycle topic.
    app_roles = (INFRA / "modules" / "roles-app.bicep").read_text(encoding="utf-8")
    assert app_roles.count("roleDefinitionId: eventGridDataSender") == 1


def test_the_outputs_name_the_sender_topics_for_the_policy(templates: dict[str, dict[str, Any]]) -> None:
    outputs = templates["main.bicep"]["outputs"]
    assert outputs["LIFECYCLE_BUILD_SOURCES"]["type"] == "array"
    assert outputs["LIFECYCLE_BUILD_SOURCES"]["value"]["config"]["operator"]["operands"]["operand_2"] == {
        "operator": {"type": "property_accessor", "operands": {"operand_1": "outputs", "operand_2": "id"}}
    }
    assert outputs["LIFECYCLE_APPROVAL_SOURCES"]["type"] == "array"
    assert "LIFECYCLE_BUILDS_ENDPOINT" not in outputs
    assert {"LIFECYCLE_BUILD_TOPICS", "LIFECYCLE_APPROVALS_ENDPOINT"} <= set(outputs)


def test_the_deployment_identity_writes_the_package_container_and_nothing_else() -> None:
    # Flex Consumption reads the package with an identity attached to the site, so code in the app can get
    # its token: the identity may write the package container and no other resource (docs/deploy.md).
    text = (INFRA / "modules" / "roles-app.bicep").read_text(encoding="utf-8")
    blocks = [b.split(" ", 1)[0] for b in text.split("\nresource ")[1:] if "roleAssignments@" in b]
    holders = [b for b in blocks if "deploymentPrincipalId" in _assignments_of(text, b)]
    assert holders == ["packageWriterRoles"]
    assert "scope: deploymentContainer\n" in _assignments_of(text, "packageWriterRoles")
    main = (INFRA / "main.bicep").read_text(encoding="utf-8")
    assert main.count("deploymentIdentity.outputs.principalId") == 1  # handed to roles-app only
    assert "deploymentIdentity.outputs.principalId" not in "".join(
        (INFRA / "modules" / f).read_text(encoding="utf-8")
        for f in ("roles-resource-group.bicep", "roles-subscription.bicep")
    )


def test_the_flex_site_sets_no_ftps_state(templates: dict[str, dict[str, Any]]) -> None:
    # Newer stamps refuse it for Flex Consumption (ARM error 51021); basic publishing is off instead.
    [(_, _, site)] = _resources(templates, "Microsoft.Web/sites")
    assert "ftpsState" not in _body(site)["properties"]["siteConfig"]
    policies = _resources(templates, "Microsoft.Web/sites/basicPublishingCredentialsPolicies")
    assert {_body(p)["name"]: _body(p)["properties"]["allow"] for _, _, p in policies} == {
        "ftp": False,
        "scm": False,
    }


def test_resource_event_subscriptions_carry_the_environment_and_can_use_an_existing_topic(
    templates: dict[str, dict[str, Any]],
) -> None:
    module = templates["modules/resource-events.bicep"]
    assert "existingTopicName" in module["parameters"] and "subscriptionSuffix" in module["parameters"]
    topics = [r for r in module["resources"].values() if r["type"] == "Microsoft.EventGrid/systemTopics"]
    assert sorted(bool(t.get("existing")) for t in topics) == [False, True]
    main = templates["main.bicep"]
    assert main["parameters"]["existingResourceEventTopicIds"]["default"] == ""


def test_telemetry_and_topics_accept_entra_auth_only(templates: dict[str, dict[str, Any]]) -> None:
    [(_, _, insights)] = _resources(templates, "Microsoft.Insights/components")
    assert _body(insights)["properties"]["DisableLocalAuth"] is True
    topics = {
        file: _body(topic)["properties"]
        for file, _, topic in _resources(templates, "Microsoft.EventGrid/topics")
    }
    assert set(topics) == {"modules/lifecycle-topic.bicep", "modules/sender-topic.bicep"}
    assert all(properties["disableLocalAuth"] is True for properties in topics.values())
    # Out: CloudEvents for consumers. In: the Event Grid schema, whose `topic` Event Grid stamps and checks
    # ("If included, must match the Event Grid topic ARM ID exactly"), so the sender cannot choose it.
    assert topics["modules/lifecycle-topic.bicep"]["inputSchema"] == "CloudEventSchemaV1_0"
    assert topics["modules/sender-topic.bicep"]["inputSchema"] == "EventGridSchema"


EVENT_SUBSCRIPTIONS = {
    "modules/resource-events.bicep": (["Microsoft.Resources.ResourceWriteSuccess"], "EventGridSchema"),
    "modules/policy-events.bicep": (["Microsoft.Storage.BlobCreated"], "EventGridSchema"),
    "modules/sender-topic.bicep": ("eventTypes", "EventGridSchema"),
}


def test_each_event_source_reaches_on_event_with_retry_and_dead_letter(
    templates: dict[str, dict[str, Any]],
) -> None:
    found: dict[str, dict[str, Any]] = {}
    for type_ in (
        "Microsoft.EventGrid/systemTopics/eventSubscriptions",
        "Microsoft.EventGrid/topics/eventSubscriptions",
    ):
        for file, _, subscription in _resources(templates, type_):
            found[file] = _body(subscription)["properties"]
    assert set(found) == set(EVENT_SUBSCRIPTIONS)
    for file, properties in found.items():
        event_type, schema = EVENT_SUBSCRIPTIONS[file]
        assert properties["filter"]["includedEventTypes"] == event_type, file
        assert properties["eventDeliverySchema"] == schema, file
        destination = properties["destination"]
        assert destination["endpointType"] == "AzureFunction", file
        assert destination["properties"]["resourceId"] == "${functionAppId}/functions/${functionName}", file
        assert set(properties["retryPolicy"]) == {"maxDeliveryAttempts", "eventTimeToLiveInMinutes"}, file
        dead_letter = properties["deadLetterWithResourceIdentity"]
        assert dead_letter["identity"]["type"] == "SystemAssigned", file
        assert dead_letter["deadLetterDestination"]["endpointType"] == "StorageBlob", file
        assert (
            dead_letter["deadLetterDestination"]["properties"]["blobContainerName"]
            == "deadLetterContainerName"
        )
    for file in EVENT_SUBSCRIPTIONS:
        assert templates[file]["parameters"]["functionName"]["default"] == "on_event", file


def test_gallery_version_writes_are_filtered_on_the_operation(templates: dict[str, dict[str, Any]]) -> None:
    [(_, _, subscription)] = [
        r
        for r in _resources(templates, "Microsoft.EventGrid/systemTopics/eventSubscriptions")
        if r[0] == "modules/resource-events.bicep"
    ]
    event_filter = _body(subscription)["properties"]["filter"]
    assert event_filter["advancedFilters"] == [
        {
            "operatorType": "StringIn",
            "key": "data.operationName",
            "values": ["Microsoft.Compute/galleries/images/versions/write"],
        }
    ]
    assert event_filter["subjectBeginsWith"] == {
        "operator": {
            "type": "property_accessor",
            "operands": {"operand_1": "subjectFilter", "operand_2": "subjectPrefix"},
        }
    }
    main = (INFRA / "main.bicep").read_text(encoding="utf-8")
    assert "/resourceGroups/${rgName}/providers/Microsoft.Compute/galleries/'" in main
    topic_types = templates["modules/resource-events.bicep"]["parameters"]["topicType"]["decorators"]
    allowed = next(d["argument"] for d in topic_types if d["type"] == "allowed")
    assert set(allowed) == {"Microsoft.Resources.ResourceGroups", "Microsoft.Resources.Subscriptions"}


def test_only_placeholder_subscription_ids() -> None:
    subscription_id = re.compile(rf"subscriptions/({GUID.pattern})", flags=re.IGNORECASE)
    files = [p for p in INFRA.rglob("*") if p.is_file()] + [REPO / "azure.yaml"]
    for path in files:
        for guid in subscription_id.findall(path.read_text(encoding="utf-8")):
            assert guid == "00000000-0000-0000-0000-000000000000", f"{path}: subscription {guid}"


def test_parameters_file_matches_main(templates: dict[str, dict[str, Any]]) -> None:
    document = json.loads((INFRA / "main.parameters.json").read_text(encoding="utf-8"))
    declared = templates["main.bicep"]["parameters"]
    supplied = document["parameters"]
    assert set(supplied) <= set(declared), f"unknown parameters: {set(supplied) - set(declared)}"
    required = {name for name, p in declared.items() if p.get("default") is None}
    assert required <= set(supplied), f"required parameters not supplied: {required - set(supplied)}"


def test_azd_project_deploys_the_repository_as_the_lifecycle_function() -> None:
    project = yaml.safe_load((REPO / "azure.yaml").read_text(encoding="utf-8"))
    assert project["services"]["lifecycle"] == {"project": ".", "language": "python", "host": "function"}
    assert project["infra"]["path"] == "infra"
    for platform, hook in project["hooks"]["postdeploy"].items():
        script = REPO / hook["run"]
        assert script.is_file(), f"{platform} hook {script} missing"
    site = (INFRA / "modules" / "function-app.bicep").read_text(encoding="utf-8")
    assert "'azd-service-name': serviceName" in site
    assert "param serviceName string = 'lifecycle'" in site


def test_deployment_package_holds_the_app_only() -> None:
    # .funcignore: every top-level entry of the repository but the app, every cache and local state.
    ignored = [
        line
        for line in (REPO / ".funcignore").read_text(encoding="utf-8").splitlines()
        if line and line[0] != "#"
    ]
    entries = {line.rstrip("/") for line in ignored}
    deployed = {"function_app.py", "host.json", "requirements.txt", "lifecycle"}
    for path in REPO.iterdir():
        if path.name in deployed:
            assert path.name not in entries, path.name
        elif not path.name.startswith(".git"):
            assert path.name in entries, f"{path.name} would be deployed"
    for cache in (
        "__pycache__",
        "*.pyc",
        ".hypothesis",
        ".pytest_cache",
        ".mypy_cache",
        ".ruff_cache",
        ".azure",
    ):
        assert cache in entries, cache
    assert not set(entries) & deployed


def test_the_instance_ceiling_is_documented_per_function_group(templates: dict[str, dict[str, Any]]) -> None:
    # maximumInstanceCount bounds each function group, not the app: the docs give the ceiling per function.
    default = templates["main.bicep"]["parameters"]["maximumInstanceCount"]["default"]
    page = (REPO / "docs" / "deploy.md").read_text(encoding="utf-8")
    section = page[page.index("## Scale: `maximumInstanceCount`") :]
    section = section[: section.index("\n## ")]
    assert f"So with N = {default} at most {default} image units write at once" in section
    assert default <= 53  # the write budget's reserve + headroom (docs/fleet-scale.md)
    settings = templates["modules/function-app.bicep"]["variables"]["generatedAppSettings"]["value"]
    assert "LIFECYCLE_FANOUT_QUEUE" in settings  # on_event only records and enqueues
    for function in ("reconcile_image", "on_event", "sweep"):
        assert f"| `{function}` |" in section, function
    assert "per-function-scaling" in section
    host = json.loads((REPO / "host.json").read_text(encoding="utf-8"))["extensions"]["queues"]
    assert (host["batchSize"], host["newBatchThreshold"]) == (1, 0)  # one message per instance


def test_the_docs_say_what_the_attached_deployment_identity_can_reach() -> None:
    page = (REPO / "docs" / "deploy.md").read_text(encoding="utf-8")
    section = page[page.index("## The deployment identity") :]
    section = section[: section.index("\n## ")]
    for claim in ("must be assigned", "code in the app can act as the deployment identity", "No alert"):
        assert claim in section, claim
