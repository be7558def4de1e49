"""Azure's own signals end to end, through the real SDKs against the ARM emulator and Azurite, under exactly
the RBAC `permissions` derives for each policy: a version held for the platform's validation then promoted, a
flagged version quarantined and returned when cleared, a base being deprecated."""

from __future__ import annotations

from typing import Any

import pytest

from lifecycle import tags as lt
from tests.integration.conftest import Env
from tests.integration.test_gates import APP, audit, events, policy, publish, settle, state_of, vid

pytestmark = pytest.mark.integration


def signal(env: Env, version_id: str, **body: Any) -> None:
    env.emulator.control("POST", "validation", {"version_id": version_id, **body})


def test_a_version_is_held_for_the_platforms_validation_then_promoted(env: Env) -> None:
    env.put_policy(policy(approval={"require_platform_validation": True}))
    env.create_image(APP)
    publish(env, APP, "1.0.0", excluded=True)
    settle(env)
    assert state_of(env, APP, "1.0.0")[:2] == (lt.STATE_PENDING_VALIDATION, True)

    signal(env, vid(APP, "1.0.0"), executedValidations=[{"type": "TrustedLaunch", "status": "Unknown"}])
    settle(env)
    assert state_of(env, APP, "1.0.0")[:2] == (lt.STATE_PENDING_VALIDATION, True)
    assert not events(env, "VersionPromoted")

    signal(env, vid(APP, "1.0.0"), executedValidations=[{"type": "TrustedLaunch", "status": "Succeeded"}])
    settle(env)
    assert state_of(env, APP, "1.0.0")[:2] == (lt.STATE_ACTIVE, False)
    promoted = events(env, "VersionPromoted")
    assert [e["subject"] for e in promoted] == [vid(APP, "1.0.0")]
    assert any("every platform validation succeeded" in r["reason"] for r in audit(env))


def test_a_flagged_version_is_quarantined_once_and_returns_when_azure_clears_it(env: Env) -> None:
    env.put_policy(policy())
    env.create_image(APP)
    publish(env, APP, "1.0.0")
    publish(env, APP, "1.1.0")
    settle(env)
    assert state_of(env, APP, "1.1.0")[:2] == (lt.STATE_ACTIVE, False)

    signal(
        env,
        vid(APP, "1.1.0"),
        reportedForPolicyViolation=True,
        policyViolations=[{"category": "ImageFlaggedUnsafe", "details": "malware found"}],
    )
    settle(env)
    settle(env)  # nothing new: announced once
    state, excluded, tags = state_of(env, APP, "1.1.0")
    assert (state, excluded) == (lt.STATE_QUARANTINED, True)
    assert "ImageFlaggedUnsafe (malware found)" in tags[lt.QUARANTINE_REASON]
    quarantined = events(env, "VersionQuarantined")
    assert len(quarantined) == 1 and quarantined[0]["subject"] == vid(APP, "1.1.0")
    assert "ImageFlaggedUnsafe" in quarantined[0]["data"]["reason"]

    signal(env, vid(APP, "1.1.0"), reportedForPolicyViolation=False, policyViolations=[])
    settle(env)
    state, excluded, tags = state_of(env, APP, "1.1.0")
    assert (state, excluded, tags[lt.QUARANTINE_REASON]) == (lt.STATE_ACTIVE, False, "cleared")
    assert any("quarantine lifted" in r["reason"] for r in audit(env))


def test_a_failed_validation_quarantines_a_version_held_for_it(env: Env) -> None:
    env.put_policy(policy(approval={"require_platform_validation": True}))
    env.create_image(APP)
    publish(env, APP, "1.0.0", excluded=True)
    signal(
        env,
        vid(APP, "1.0.0"),
        executedValidations=[{"type": "TrustedLaunch", "status": "Failed", "version": "2"}],
    )
    settle(env)
    state, excluded, tags = state_of(env, APP, "1.0.0")
    assert (state, excluded) == (lt.STATE_QUARANTINED, True)
    assert tags[lt.QUARANTINE_REASON] == "platform validation failed: TrustedLaunch 2: Failed"
    assert len(events(env, "VersionQuarantined")) == 1
