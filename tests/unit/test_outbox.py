"""The outbox's moves (`lifecycle.outbox`) as decision tables. Pure, no I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from lifecycle import outbox as ob
from lifecycle.notifications import Notification, NotificationType
from lifecycle.state import ImageState

V = "/subscriptions/s/resourceGroups/r/providers/Microsoft.Compute/galleries/g/images/i/versions/1.0.0"
DELETED = Notification(NotificationType.VERSION_DELETED, V, {"reason": "expired"})
REPLICATED = Notification(NotificationType.VERSION_REPLICATED, V, {"regions": ["eastus"]})


def test_ids_are_stable_for_the_same_write_and_differ_for_another() -> None:
    a = ob.for_action("k1", DELETED, etag="e1")
    assert a.id == ob.for_action("k1", DELETED, etag="e1", recorded="later").id
    assert a.id != ob.for_action("k2", DELETED, etag="e1").id
    assert a.id != ob.for_action("k1", DELETED, etag="e2").id, "the same change made again later"
    assert ob.for_observation(REPLICATED, etag="e1").id == ob.for_observation(REPLICATED, etag="e1").id


def test_a_failed_write_drops_its_intent_a_succeeded_one_is_sent() -> None:
    ok = ob.for_action("ok", DELETED, etag=None)
    bad = ob.for_action("bad", DELETED, etag="x")
    not_run = ob.for_action("later", DELETED, etag="y")
    settled = ob.settle([ok, bad, not_run], succeeded=["ok"], failed=["bad"])
    assert [(e.key, e.status) for e in settled] == [("ok", ob.UNSENT), ("later", ob.INTENT)]


def test_an_intent_left_by_a_dead_run_is_resolved_from_what_arm_now_needs() -> None:
    took = ob.for_action("took", DELETED, etag=None)
    did_not = ob.for_action("again", DELETED, etag="x")
    old_unsent = ob.for_observation(REPLICATED, etag=None)
    resolved = ob.resolve_intents([took, did_not, old_unsent], planned_keys=["again"])
    assert [(e.key, e.status) for e in resolved] == [("took", ob.UNSENT), (None, ob.UNSENT)]


def test_merge_keeps_one_entry_per_id_the_first() -> None:
    sent_later = ob.for_action("k", DELETED, etag=None)
    settled = ob.settle([sent_later], succeeded=["k"], failed=[])[0]
    assert ob.merge([settled], [sent_later]) == [settled]


def test_the_outbox_round_trips_through_the_state_document_and_is_absent_when_empty() -> None:
    entry = ob.for_action("k", DELETED, etag="e", recorded="2026-01-01T00:00:00Z")
    state = ImageState(outbox=(entry,))
    assert ImageState.from_json(state.to_json()) == state
    assert "outbox" not in ImageState().to_json()
    notification = entry.notification()
    assert notification.id == entry.id and notification.type is NotificationType.VERSION_DELETED


def _unsent(n: int, hours_ago: float, now: datetime) -> ob.OutboxEntry:
    from lifecycle.model import iso

    recorded = iso(now - timedelta(hours=hours_ago))
    note = Notification(NotificationType.VERSION_EXPIRED, f"/v/{n}")
    return ob.for_observation(note, etag=str(n), recorded=recorded)


@pytest.mark.parametrize(
    ("ages", "max_events", "max_hours", "dead"),
    [
        ([1, 2, 3], 10, 24, []),
        ([1, 30, 3], 10, 24, [1]),
        ([5, 9, 7], 2, 24, [1]),  # the oldest beyond the count
        ([5, 50, 7, 6], 2, 24, [1, 2]),  # age first, then the oldest of the rest
    ],
    ids=["within", "too-old", "too-many", "both"],
)
def test_bound(ages: list[float], max_events: int, max_hours: int, dead: list[int]) -> None:
    now = datetime(2027, 1, 1, tzinfo=UTC)
    entries = [_unsent(i, age, now) for i, age in enumerate(ages)]
    intent = ob.for_action(
        "k",
        Notification(NotificationType.VERSION_DELETED, "/v/x"),
        etag=None,
        recorded="2020-01-01T00:00:00Z",
    )
    kept, letters = ob.bound(
        [*entries, intent], max_events=max_events, max_age=timedelta(hours=max_hours), now=now
    )
    assert sorted(entries.index(d.entry) for d in letters) == dead
    assert intent in kept, "an intent waits for its write's outcome, whatever its age"
    assert len(kept) == len(entries) + 1 - len(dead)


@pytest.mark.parametrize(
    ("status", "final"),
    [
        (None, False),
        (400, True),
        (401, True),
        (403, True),
        (404, True),
        (408, False),
        (413, True),
        (429, False),
        (500, False),
        (503, False),
    ],
)
def test_which_refusals_are_final(status: int | None, final: bool) -> None:
    from lifecycle.gateways.errors import PublishError
    from lifecycle.reconcile.delivery import permanent

    assert permanent(PublishError("x", status=status)) is final


def test_a_redelivered_approval_is_recorded_once_and_survives_the_round_trip() -> None:
    from lifecycle.state import RequestedGate

    request = RequestedGate("approve", "1.0.1", by="carol", source="topic", event_id="e1")
    state = ImageState().with_request(request).with_request(request)
    assert [r.event_id for r in state.gate_requests] == ["e1"]
    again = ImageState.from_json(state.to_json())
    assert again.gate_requests == state.gate_requests
    assert "gate_requests" not in ImageState().to_json(), "documents without requests stay as they were"
