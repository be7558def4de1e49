"""Fuzzed inbound events, pure part: the parser and the handler's decision, with no service behind them.

Properties (PRODUCT.md section 5):
- `parse_event` returns a typed event or raises `MalformedEvent`, nothing else, whatever it is given; so does
  `from_trigger` for what the Functions worker decodes;
- a valid event parses to what it says (the version it names, its kind);
- an event whose type cannot be read fails the invocation (`EventNotProcessed`, so Event Grid redelivers),
  any other malformed or irrelevant event is dropped; neither starts a reconcile.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from azure.functions.eventgrid import EventGridEventInConverter
from azure.functions.meta import Datum
from hypothesis import given, settings

from lifecycle import triggers
from lifecycle.events import (
    BuildCompleted,
    Ignored,
    MalformedEvent,
    PolicyChanged,
    VersionWritten,
    from_trigger,
    parse_event,
)
from lifecycle.triggers import EventNotProcessed, handle_event
from tests.reliability import figures
from tests.reliability.strategies import EVENTS, Case

SUITE = "fuzz: events"
KINDS = {"version": VersionWritten, "build": BuildCompleted, "policy": PolicyChanged, "ignored": Ignored}


def _parse(payload: Any) -> Any:
    try:
        return parse_event(payload)
    except MalformedEvent as exc:
        return exc


def _expectations(case: Case, outcome: Any) -> list[tuple[bool, str]]:
    checks = [(isinstance(outcome, (*KINDS.values(), MalformedEvent)), f"unexpected {outcome!r}")]
    if case.kind in KINDS:
        checks.append((isinstance(outcome, KINDS[case.kind]), f"{case.kind} parsed as {outcome!r}"))
        if case.version_id and isinstance(outcome, VersionWritten | BuildCompleted):
            checks.append(
                (outcome.version.id.lower() == case.version_id.lower(), f"wrong version {outcome!r}")
            )
    elif case.kind == "malformed":
        checks.append((isinstance(outcome, MalformedEvent) and outcome.event_type is not None, repr(outcome)))
    elif case.kind == "untyped":
        checks.append((isinstance(outcome, MalformedEvent) and outcome.event_type is None, repr(outcome)))
    if isinstance(outcome, MalformedEvent):
        checks.append((len(str(outcome)) > 0, "a MalformedEvent without a message"))
    return checks


@settings(max_examples=figures.scale(600, 10_000))
@given(EVENTS)
def test_parser_raises_only_its_own_error(case: Case) -> None:
    failures: list[str] = []
    try:
        outcome = _parse(case.payload)
    except Exception as exc:  # the property under test: nothing else escapes
        outcome = exc
        figures.check(SUITE, False, f"parse_event raised {exc!r}", failures)
    figures.add(SUITE, inputs=1)
    for ok, what in _expectations(case, outcome):
        figures.check(SUITE, ok, what, failures)
    assert not failures, [f[:500] for f in failures]


@settings(max_examples=figures.scale(200, 2_000))
@given(EVENTS)
def test_worker_decoded_events_parse_the_same(case: Case) -> None:
    """What the Python worker hands `on_event` (its own decoding of the host's JSON) parses like the JSON."""
    if not isinstance(case.payload, dict):
        return
    try:
        text = json.dumps(case.payload)
        event = EventGridEventInConverter.decode(Datum(type="json", value=text), trigger_metadata={})
    except Exception:  # the worker refuses it before our code runs: nothing of ours to test
        return
    failures: list[str] = []
    try:
        outcome: Any = from_trigger(event)
    except MalformedEvent as exc:
        outcome = exc
    except Exception as exc:
        outcome = exc
        figures.check(SUITE, False, f"from_trigger raised {exc!r}", failures)
    figures.add(SUITE, inputs=1)
    figures.check(SUITE, isinstance(outcome, (*KINDS.values(), MalformedEvent)), repr(outcome), failures)
    assert not failures, failures


@settings(max_examples=figures.scale(300, 3_000))
@given(case=EVENTS)
def test_handler_fails_only_untyped_events_and_runs_nothing_for_the_rest(
    case: Case, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Decision of the handler for events that must not start a reconcile (no ARM call can follow)."""
    outcome = _parse(case.payload)
    if not isinstance(outcome, MalformedEvent | Ignored):
        return
    started: list[Any] = []
    monkeypatch.setattr(triggers, "_run", lambda trigger: started.append(trigger))
    failures: list[str] = []
    raised: Exception | None = None
    try:
        result = handle_event(case.payload)
    except EventNotProcessed as exc:
        raised, result = exc, None
    except Exception as exc:
        raised, result = exc, None
        figures.check(SUITE, False, f"handler raised {exc!r}", failures)
    figures.add(SUITE, inputs=1)
    untyped = isinstance(outcome, MalformedEvent) and outcome.event_type is None
    figures.check(SUITE, not started, f"a reconcile started for {outcome!r}", failures)
    figures.check(SUITE, result is None, "a report for a dropped event", failures)
    figures.check(
        SUITE,
        isinstance(raised, EventNotProcessed) == untyped,
        f"untyped={untyped} but the handler raised {raised!r}",
        failures,
    )
    assert not failures, failures
