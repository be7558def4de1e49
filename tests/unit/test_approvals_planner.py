"""An operator's approval or revocation as a decision table: refused by the version's state in the planner's
own view, and the remembered state once taken. Pure: no I/O."""

from __future__ import annotations

import pytest

from lifecycle import tags as lt
from lifecycle.model import ObservedVersion, ProvisioningState
from lifecycle.planning import approvals
from lifecycle.state import GateRecord, ImageState
from tests.unit.builders import T0, days, image, policy, version

EXPIRING = {"retention": {"lifetime_days": 1, "keep_latest": 1}}

VERSIONS = {
    "active": version("1.0.0"),
    "expired": version("1.0.0", published=T0 - days(10)),
    "revoked": version("1.0.0", tags={lt.STATE: lt.STATE_REVOKED}),
    "failed": version("1.0.0", state=ProvisioningState.FAILED),
    "deleting": version("1.0.0", state=ProvisioningState.DELETING),
}


def refusal(kind: str, observed: ObservedVersion) -> str | None:
    newer = version("2.0.0")
    return approvals.refusal(policy(EXPIRING), image(observed, newer), T0, ImageState(), kind, "1.0.0")


@pytest.mark.parametrize(
    ("kind", "state", "refused"),
    [
        pytest.param("approve", "active", None, id="approve-active"),
        pytest.param("approve", "expired", "is expired: it cannot be approved", id="approve-expired"),
        pytest.param("approve", "revoked", "is revoked: it cannot be approved", id="approve-revoked"),
        pytest.param("approve", "failed", "is failed: it cannot be approved", id="approve-failed"),
        pytest.param("approve", "deleting", "is deleting: it cannot be approved", id="approve-deleting"),
        pytest.param("revoke", "active", None, id="revoke-active"),
        pytest.param("revoke", "expired", None, id="revoke-expired"),
        pytest.param("revoke", "revoked", None, id="revoke-revoked-again"),
        pytest.param("revoke", "failed", "is failed: there is nothing to revoke", id="revoke-failed"),
        pytest.param("revoke", "deleting", "is deleting: there is nothing to revoke", id="revoke-deleting"),
    ],
)
def test_a_request_is_refused_by_the_versions_planned_state(
    kind: str, state: str, refused: str | None
) -> None:
    assert refusal(kind, VERSIONS[state]) == refused


@pytest.mark.parametrize("kind", ["approve", "revoke"])
def test_a_taken_request_is_remembered_with_its_record(kind: str) -> None:
    record = GateRecord(by="bob", reason="why", source="cli", at=T0)
    state = approvals.with_gate(ImageState(), kind, "1.0.0", record)
    taken, other = (
        (state.approvals, state.revocations) if kind == "approve" else (state.revocations, state.approvals)
    )
    assert taken == {"1.0.0": record}
    assert other == {}
