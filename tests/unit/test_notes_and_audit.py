"""Typed report notes and the audit record: what code decides on is the kind and the target, and each
audit record kind writes the keys its readers have always seen."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime

import pytest

from lifecycle.gateways.errors import GatewayError, RetryableError
from lifecycle.model import parse_version_id
from lifecycle.notifications import Notification, NotificationType
from lifecycle.reconcile.audit import AuditRecord
from lifecycle.reconcile.notes import Kind, Note, failure, from_text
from lifecycle.reconcile.results import RunReport
from lifecycle.reconcile.trigger import GateRequest, Trigger

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
SUBSCRIPTION = "/subscriptions/00000000-0000-0000-0000-000000000000"
IMAGE = f"{SUBSCRIPTION}/resourceGroups/rg/providers/Microsoft.Compute/galleries/g/images/web"
VERSION = f"{IMAGE}/versions/1.0.0"


@pytest.mark.parametrize(
    ("kind", "retry"),
    [
        (Kind.OUT_OF_SCOPE, False),
        (Kind.NOT_FOUND, False),
        (Kind.TEMPORARY, True),
        (Kind.CONTENDED, True),
        (Kind.PERMANENT, True),
        (Kind.NOT_STARTED, True),
    ],
    ids=lambda v: str(v),
)
def test_which_skips_a_retry_can_clear(kind: Kind, retry: bool) -> None:
    report = RunReport(at=NOW, trigger=Trigger("queue"))
    report.skipped.append(Note(kind, IMAGE, "whatever the words say"))
    assert report.needs_retry is retry
    assert report.problems() == (report.skipped if retry else [])


def test_an_error_always_asks_for_a_retry() -> None:
    report = RunReport(at=NOW, trigger=Trigger("event"))
    report.skipped.append(Note(Kind.OUT_OF_SCOPE, IMAGE, "not in the policy's scope"))
    report.errors.append(Note(Kind.PERMANENT, IMAGE, "denied"))
    assert report.needs_retry
    assert report.problems() == [report.errors[0]]


def test_a_note_reads_as_its_text_and_keeps_its_kind() -> None:
    note = Note(Kind.NOT_FOUND, IMAGE, "image definition not found")
    assert note == f"{IMAGE}: image definition not found"
    assert json.dumps([note]) == json.dumps([str(note)])
    assert copy.deepcopy(note).kind is Kind.NOT_FOUND
    assert note.concerns(IMAGE.lower()) and not note.concerns("/subscriptions/other")
    told = note.about(VERSION)
    assert told == f"{VERSION}: image definition not found" and told.kind is Kind.NOT_FOUND


def test_gateway_errors_become_temporary_or_permanent() -> None:
    assert failure(IMAGE, RetryableError("throttled")).kind is Kind.TEMPORARY
    assert failure(IMAGE, GatewayError("denied")).kind is Kind.PERMANENT
    named = from_text(Kind.PERMANENT, f"{IMAGE}: denied")
    assert (named.target, named.detail) == (IMAGE, "denied")
    assert from_text(Kind.PERMANENT, "queue down").target == ""


def test_audit_records_carry_the_keys_of_their_kind() -> None:
    trigger = Trigger("event", scope=VERSION, event_id="ev-1")
    request = GateRequest(
        "approve", parse_version_id(VERSION), by="ana", source="approvals", schema="eventgrid"
    )
    gated = Trigger("event", scope=VERSION, event_id="ev-2", gate=request)
    rejected = AuditRecord.gate_rejected(trigger, request, NOW, "not a trusted sender").to_json()
    assert list(rejected) == ["time", "trigger", "event_id", "target", "action", "reason", "after", "outcome"]
    assert rejected["after"] == {"by": "ana", "source": "approvals", "schema": "eventgrid"}
    refused = AuditRecord.gate_refused(gated, NOW, "expired").to_json()
    assert refused["event_id"] == "ev-2" and refused["after"]["reason"] is None
    error = AuditRecord.run_error(trigger, Note(Kind.PERMANENT, IMAGE, "denied"), NOW).to_json()
    assert error == {
        "time": "2026-12-01T08:00:00Z",
        "trigger": "event",
        "event_id": "ev-1",
        "target": IMAGE,
        "action": "error",
        "outcome": "failed",
        "error": f"{IMAGE}: denied",
    }
    notification = Notification(NotificationType.CONFIG_REJECTED, "https://x/policy.json", {"etag": "1"})
    policy = AuditRecord.policy_rejected(Trigger("sweep"), notification, NOW).to_json()
    assert "event_id" not in policy and policy["after"] == {"etag": "1"}
