"""checkov (Bicep framework, offline, with the custom checks in checks/) passes on infra/, and bites when the
storage account, the topic or telemetry is opened up."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.infra.conftest import INFRA, mutate, run_checkov

CUSTOM_CHECK_IDS = {"CKV_GLC_1", "CKV_GLC_2", "CKV_GLC_3"}
SKIP_COMMENT = re.compile(r"checkov:skip=([A-Za-z0-9_]+)(?::(.*))?")


def _describe(records: list[dict[str, Any]]) -> str:
    return "\n".join(
        f"  {r['check_id']} {r['resource']} ({r['file_path']}:{r['file_line_range']}): {r['check_name']}"
        for r in records
    )


def test_checkov_parses_every_file(checkov_report: dict[str, Any]) -> None:
    assert checkov_report["summary"]["parsing_errors"] == 0, checkov_report["results"]["parsing_errors"]
    assert checkov_report["results"]["parsing_errors"] == []


def test_checkov_reports_no_failed_check(checkov_report: dict[str, Any]) -> None:
    failed = checkov_report["results"]["failed_checks"]
    assert checkov_report["summary"]["failed"] == 0, "checkov failed checks:\n" + _describe(failed)
    assert failed == []


def test_checkov_ran_the_custom_checks(checkov_report: dict[str, Any]) -> None:
    ran = {r["check_id"] for r in checkov_report["results"]["passed_checks"]}
    assert ran >= CUSTOM_CHECK_IDS, f"custom checks not loaded: {sorted(CUSTOM_CHECK_IDS - ran)}"
    assert checkov_report["summary"]["passed"] > len(CUSTOM_CHECK_IDS)


def test_every_skip_carries_a_reason(checkov_report: dict[str, Any]) -> None:
    for record in checkov_report["results"]["skipped_checks"]:
        reason = (record["check_result"].get("suppress_comment") or "").strip()
        assert reason and reason != "No comment provided", f"{record['check_id']} on {record['resource']}"


def test_every_skip_comment_in_the_source_has_a_reason_next_to_it() -> None:
    for path in sorted(INFRA.rglob("*.bicep")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            match = SKIP_COMMENT.search(line)
            if match:
                where = f"{path.relative_to(INFRA)}:{number}"
                assert (match.group(2) or "").strip(), f"{where}: checkov skip without a reason"


# Each mutation opens one thing up; the check that must then fail, and on which resource.
MUTATIONS: list[tuple[str, str, str]] = [
    ("modules/storage.bicep", "allowSharedKeyAccess: false", "allowSharedKeyAccess: true"),
    ("modules/storage.bicep", "allowBlobPublicAccess: false", "allowBlobPublicAccess: true"),
    ("modules/storage.bicep", "minimumTlsVersion: 'TLS1_2'", "minimumTlsVersion: 'TLS1_0'"),
    ("modules/storage.bicep", "supportsHttpsTrafficOnly: true", "supportsHttpsTrafficOnly: false"),
    (
        "modules/storage.bicep",
        "name: configContainerName\n  properties: {\n    publicAccess: 'None'",
        "name: configContainerName\n  properties: {\n    publicAccess: 'Blob'",
    ),
    ("modules/lifecycle-topic.bicep", "disableLocalAuth: true", "disableLocalAuth: false"),
    ("modules/monitoring.bicep", "DisableLocalAuth: true", "DisableLocalAuth: false"),
]

EXPECTED_FAILURES = [
    pytest.param("CKV_GLC_1", "Microsoft.Storage/storageAccounts.storage", id="shared-key-access"),
    pytest.param("CKV_GLC_2", "Microsoft.Storage/storageAccounts.storage", id="blob-public-access"),
    pytest.param("CKV_AZURE_44", "Microsoft.Storage/storageAccounts.storage", id="storage-min-tls"),
    pytest.param("CKV_AZURE_3", "Microsoft.Storage/storageAccounts.storage", id="storage-https-only"),
    pytest.param(
        "CKV_AZURE_34",
        "Microsoft.Storage/storageAccounts/blobServices/containers.configContainer",
        id="container-public-access",
    ),
    pytest.param("CKV_AZURE_192", "Microsoft.EventGrid/topics.topic", id="topic-local-auth"),
    pytest.param("CKV_GLC_3", "Microsoft.Insights/components.appInsights", id="appinsights-local-auth"),
]


@pytest.fixture(scope="module")
def opened_up_report(infra_copy: Callable[[], Path]) -> dict[str, Any]:
    """checkov's report on a copy of infra/ with every mutation applied and one file that does not parse."""
    tree = infra_copy()
    for relative, old, new in MUTATIONS:
        mutate(tree / relative, old, new)
    broken = "resource broken 'Microsoft.Storage/storageAccounts@2023-05-01' = {\n"
    (tree / "modules" / "broken.bicep").write_text(broken, encoding="utf-8")
    return run_checkov(tree)


@pytest.mark.parametrize(("check_id", "resource"), EXPECTED_FAILURES)
def test_checkov_fails_when_access_is_opened_up(
    opened_up_report: dict[str, Any], check_id: str, resource: str
) -> None:
    failed = {(r["check_id"], r["resource"]) for r in opened_up_report["results"]["failed_checks"]}
    assert (check_id, resource) in failed, "failed checks were:\n" + _describe(
        opened_up_report["results"]["failed_checks"]
    )


def test_checkov_fails_only_where_mutated(opened_up_report: dict[str, Any]) -> None:
    expected = {(p.values[0], p.values[1]) for p in EXPECTED_FAILURES}
    failed = {(r["check_id"], r["resource"]) for r in opened_up_report["results"]["failed_checks"]}
    assert failed == expected


def test_checkov_reports_a_file_it_cannot_parse(opened_up_report: dict[str, Any]) -> None:
    assert opened_up_report["summary"]["parsing_errors"] == 1
    assert [Path(p).name for p in opened_up_report["results"]["parsing_errors"]] == ["broken.bicep"]
