"""Custom checkov checks for Bicep that checkov 3.3 does not ship: key and anonymous access switched off.

Loaded with `checkov --external-checks-dir tests/infra/checks`. checkov has no Bicep/ARM check for
`allowSharedKeyAccess` or `allowBlobPublicAccess` on storage accounts, nor for local auth on Application
Insights (it has one for Event Grid topics, CKV_AZURE_192); these keep the deployment identity-only.
"""

from __future__ import annotations

from typing import Any

from checkov.bicep.checks.resource.base_resource_check import BaseResourceCheck
from checkov.common.models.enums import CheckCategories, CheckResult


def _as_bool(value: Any) -> bool | None:
    """A literal Bicep boolean (or the rendered default of a bool parameter); None when not a literal."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None


class _PropertyMustBe(BaseResourceCheck):
    """`properties.<key>` must be the literal `expected`.

    Absent or an unresolved expression fails: the Azure defaults of these properties are the unsafe ones.
    """

    def __init__(
        self, *, check_id: str, name: str, resources: tuple[str, ...], key: str, expected: bool
    ) -> None:
        self.key = key
        self.expected = expected
        super().__init__(
            name=name,
            id=check_id,
            categories=(CheckCategories.IAM,),
            supported_resources=resources,
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        self.evaluated_keys = [f"properties/{self.key}"]
        properties = conf.get("properties")
        if not isinstance(properties, dict):
            return CheckResult.FAILED
        if _as_bool(properties.get(self.key)) is self.expected:
            return CheckResult.PASSED
        return CheckResult.FAILED


StorageSharedKeyAccessDisabled = _PropertyMustBe(
    check_id="CKV_GLC_1",
    name="Ensure storage accounts disallow shared key access (allowSharedKeyAccess false)",
    resources=("Microsoft.Storage/storageAccounts",),
    key="allowSharedKeyAccess",
    expected=False,
)

StorageBlobPublicAccessDisabled = _PropertyMustBe(
    check_id="CKV_GLC_2",
    name="Ensure storage accounts disallow anonymous blob access (allowBlobPublicAccess false)",
    resources=("Microsoft.Storage/storageAccounts",),
    key="allowBlobPublicAccess",
    expected=False,
)

AppInsightsLocalAuthDisabled = _PropertyMustBe(
    check_id="CKV_GLC_3",
    name="Ensure Application Insights accepts Entra-authenticated telemetry only (DisableLocalAuth true)",
    resources=("Microsoft.Insights/components",),
    key="DisableLocalAuth",
    expected=True,
)
