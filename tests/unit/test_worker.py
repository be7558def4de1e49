"""The worker-environment check: the loaded azure-functions must know CloudEvent (>= 1.25); if not, one error
names PYTHON_ISOLATE_WORKER_DEPENDENCIES. Checked on module-like objects standing for what a worker loads."""

from __future__ import annotations

import logging
from types import ModuleType

import azure.functions
import pytest

from lifecycle.worker import SETTING, check_functions_library, functions_library_problem


def library(version: str | None, cloud_event: bool) -> ModuleType:
    module = ModuleType("azure.functions")
    if version is not None:
        module.__version__ = version  # type: ignore[attr-defined]
    if cloud_event:
        module.CloudEvent = type("CloudEvent", (), {})  # type: ignore[attr-defined]
    return module


@pytest.mark.parametrize(
    ("version", "cloud_event", "fine"),
    [
        ("1.24.0", False, False),  # bundled by worker releases (workers/pyproject.toml @ 09d5011e)
        ("1.25.0b3", False, False),
        ("1.25.0b4", True, True),
        ("1.26.0", True, True),
        ("1.24.9", True, False),  # an older version whatever it exports
        (None, True, True),
        (None, False, False),
    ],
    ids=["1.24.0", "1.25.0b3", "1.25.0b4", "1.26.0", "old-with-class", "unversioned", "unversioned-old"],
)
def test_versions(version: str | None, cloud_event: bool, fine: bool) -> None:
    assert (functions_library_problem(library(version, cloud_event)) is None) is fine


def test_a_too_old_library_logs_one_error_naming_the_setting(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR):
        assert check_functions_library(library("1.24.0", False)) is False
    [record] = caplog.records
    assert SETTING in record.getMessage() and "1.24.0" in record.getMessage()
    assert f"{SETTING}=1" in record.getMessage()


def test_the_pinned_library_passes(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR):
        assert check_functions_library(azure.functions) is True
    assert not caplog.records
