"""Settling an ambiguous answer: which failures may hide a write that took, and whether a version read
again shows each kind of change."""

from __future__ import annotations

import pytest

from lifecycle.actions import Action, ActionKind
from lifecycle.gateways.errors import GatewayError, NotFoundError, PermanentError, RetryableError
from lifecycle.model import ObservedVersion, ProvisioningState
from lifecycle.settling import ambiguous, shows
from tests.unit.builders import T0, days, version


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (RetryableError("x", status=500), True),
        (RetryableError("x", status=503), True),
        (RetryableError("x"), True),  # a time-out or a dropped connection
        (RetryableError("x", status=409), True),
        (PermanentError("x", status=409), True),
        (NotFoundError("x", status=404), True),
        (RetryableError("x", status=429), False),
        (PermanentError("x", status=403), False),
        (PermanentError("x", status=400), False),
        (PermanentError("x"), False),
    ],
    ids=["500", "503", "timeout", "409-busy", "409", "404", "429", "403", "400", "no-status"],
)
def test_which_failures_are_ambiguous(error: GatewayError, expected: bool) -> None:
    assert ambiguous(error) is expected


V = version("1.0.0", regions={"eastus": 1, "westeurope": 2}, tags={"Lifecycle.State": "expired"})
EOL = T0 + days(30)


def act(kind: ActionKind, **after: object) -> Action:
    return Action(kind, V.ref.id, "test", after=after)


REGIONS = [{"name": "East US", "replica_count": 1}, {"name": "westeurope", "replica_count": 2}]


@pytest.mark.parametrize(
    ("action", "current", "expected"),
    [
        (act(ActionKind.DELETE), None, True),
        (act(ActionKind.DELETE), version("1.0.0", state=ProvisioningState.DELETING), True),
        (act(ActionKind.DELETE), V, False),
        (act(ActionKind.TAG, tags={"lifecycle.state": "expired"}), V, True),
        (act(ActionKind.TAG, tags={"lifecycle.state": "active"}), V, False),
        (act(ActionKind.TAG, tags={"a": "1"}), None, False),
        (
            act(ActionKind.EXCLUDE_FROM_LATEST, exclude_from_latest=True),
            version("1.0.0", excluded=True),
            True,
        ),
        (act(ActionKind.PROMOTE, exclude_from_latest=False), version("1.0.0", excluded=True), False),
        (act(ActionKind.END_OF_LIFE, end_of_life=EOL.isoformat()), version("1.0.0", eol=EOL), True),
        (
            act(ActionKind.END_OF_LIFE, end_of_life=EOL.isoformat()),
            version("1.0.0", eol=EOL + days(1)),
            False,
        ),
        (act(ActionKind.REPLICATE, regions=REGIONS), V, True),
        (act(ActionKind.REPLICATE, regions=REGIONS[:1]), V, False),
        (act(ActionKind.REPLICATE, regions=[{**REGIONS[0]}, {**REGIONS[1], "replica_count": 3}]), V, False),
    ],
    ids=[
        "delete-gone",
        "delete-deleting",
        "delete-still-there",
        "tag-there",
        "tag-other-value",
        "tag-version-gone",
        "excluded",
        "promote-not-yet",
        "eol-set",
        "eol-other",
        "regions-match",
        "region-not-removed",
        "count-differs",
    ],
)
def test_a_version_read_again_shows_the_change_or_not(
    action: Action, current: ObservedVersion | None, expected: bool
) -> None:
    assert shows(action, current) is expected
