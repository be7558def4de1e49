"""App settings: defaults, and clear errors naming the setting."""

from __future__ import annotations

import pytest

from lifecycle.settings import DEFAULT_ARM_ENDPOINT, Settings, SettingsError


def test_defaults() -> None:
    settings = Settings.from_env({"LIFECYCLE_CONFIG_URL": "policy.yaml", "LIFECYCLE_EVENTS_ENDPOINT": " "})
    assert settings.arm_endpoint == DEFAULT_ARM_ENDPOINT
    assert settings.events_endpoint is None and settings.arm_token is None
    assert settings.lease_seconds == 60 and not settings.config_is_blob


@pytest.mark.parametrize(
    ("env", "message"),
    [
        pytest.param({}, "LIFECYCLE_CONFIG_URL is not set", id="no-config"),
        pytest.param(
            {"LIFECYCLE_CONFIG_URL": "p", "LIFECYCLE_ARM_ENDPOINT": "http://arm"},
            "https URL",
            id="plain-http-arm",
        ),
        pytest.param(
            {"LIFECYCLE_CONFIG_URL": "p", "LIFECYCLE_LEASE_SECONDS": "600"}, "15..60", id="lease-too-long"
        ),
    ],
)
def test_errors_name_the_setting(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(env)


def test_blob_config_and_trailing_slash() -> None:
    settings = Settings.from_env(
        {
            "LIFECYCLE_CONFIG_URL": "https://acct.blob.core.windows.net/lifecycle-config/policy.yaml",
            "LIFECYCLE_ARM_ENDPOINT": "https://management.usgovcloudapi.net/",
        }
    )
    assert settings.config_is_blob and settings.arm_endpoint == "https://management.usgovcloudapi.net"
