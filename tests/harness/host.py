"""A stand-in for the Azure Functions host that runs the app's indexed functions the way the host does,
from several workers at once, against the ARM emulator and Azurite. Nothing of the app is replaced: the
functions are the ones `function_app.app.get_functions()` returns, called with the objects the Python
worker builds from real trigger payloads.

- Timer: the `sweep` function with a `TimerRequest`, as the schedule fires it.
- Queue (host.json `extensions.queues`): workers poll Azurite's real queue, each taking one message at a
  time (`batchSize` 1) under a visibility time-out; a function that returns completes (deletes) the
  message; one that raises leaves it to come back when its visibility time-out lapses (the host's
  `visibilityTimeout`, one minute in host.json, scaled down to `retry_after` seconds here), with Storage's
  own dequeue count; at `maxDequeueCount` the host moves it to `<queue>-poison`.
- Event Grid: deliveries to `on_event`, each event at least once: some twice (duplicates) and in any order;
  a delivery that raises is delivered again (Event Grid's retry policy: up to 30 attempts), then
  dead-lettered.
- Operators: people editing tags by hand while all that runs (`Operator`), through the SDK, as the portal
  or the CLI does (read the tags, write them back with theirs added).

`VirtualTime` makes the app's clock the emulator's virtual clock, so a fleet can live through weeks in a
test; the harness never touches what the app decides.
"""

from __future__ import annotations

import contextlib
import json
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from azure.functions.eventgrid import EventGridEventInConverter
from azure.functions.meta import Datum
from azure.functions.queue import QueueMessageInConverter
from azure.functions.timer import TimerRequest
from azure.storage.queue import QueueClient, TextBase64DecodePolicy, TextBase64EncodePolicy

EVENT_GRID_MAX_ATTEMPTS = 30  # Event Grid's default retry policy: 30 deliveries, then dead-letter


class VirtualTime:
    """The app's clock is the emulator's virtual clock: `set` moves both; they run on together."""

    def __init__(self, emulator: Any) -> None:
        self._emulator = emulator
        self._lock = threading.Lock()
        self._anchor = datetime.now(UTC)
        self._since = time.monotonic()

    def set(self, when: datetime) -> None:
        self._emulator.set_time(when)
        with self._lock:
            self._anchor, self._since = when, time.monotonic()

    def now(self) -> datetime:
        with self._lock:
            return self._anchor + timedelta(seconds=time.monotonic() - self._since)

    def install(self, monkeypatch: Any) -> None:
        """Every Runtime the handlers build reads this clock (the Runtime's clock is its test seam)."""
        from lifecycle.reconcile import runtime

        original = runtime.Runtime.from_settings.__func__  # type: ignore[attr-defined]

        def from_settings(cls: type, settings: Any, env: dict[str, str] | None = None) -> Any:
            made = original(cls, settings, env)
            made.clock = self.now
            return made

        monkeypatch.setattr(runtime.Runtime, "from_settings", classmethod(from_settings))


def worker_event(payload: dict[str, Any]) -> Any:
    """An Event Grid event as the Python worker decodes it for an eventGridTrigger."""
    return EventGridEventInConverter.decode(
        Datum(type="json", value=json.dumps(payload)), trigger_metadata={}
    )


def worker_message(message: Any, dequeue_count: int | None = None) -> Any:
    """A received Storage queue message as the Python worker hands it to a queueTrigger function
    (`dequeue_count` stands for the host's count when a test plays a later try)."""
    return _decoded(message.content, message.id, dequeue_count or message.dequeue_count, message.pop_receipt)


def delivered_message(content: str, dequeue_count: int = 1) -> Any:
    """A queue message with this content as the worker hands it over, for a test that plays a delivery
    without the queue (a fresh id, no real pop receipt)."""
    return _decoded(content, uuid.uuid4().hex, dequeue_count, "receipt")


def _decoded(content: str, message_id: str, dequeue_count: int, pop_receipt: str) -> Any:
    metadata = {
        "Id": Datum(type="string", value=message_id),
        "DequeueCount": Datum(type="int", value=dequeue_count),
        "PopReceipt": Datum(type="string", value=pop_receipt),
        "InsertionTime": Datum(type="string", value=datetime.now(UTC).isoformat()),
    }
    return QueueMessageInConverter.decode(Datum(type="string", value=content), trigger_metadata=metadata)


def queue_client(connection_string: str, name: str) -> QueueClient:
    """A client of the Storage queue `name` that writes base64 text, as the app sends, and decodes it."""
    return QueueClient.from_connection_string(
        connection_string,
        name,
        message_encode_policy=TextBase64EncodePolicy(),
        message_decode_policy=TextBase64DecodePolicy(),
    )


@contextlib.contextmanager
def fanout_queue(connection_string: str, name: str, *, create: bool = False) -> Iterator[QueueClient]:
    """The fan-out queue `name` (see `queue_client`), created first when asked (else the app's first
    send creates it); at the end it and its `<name>-poison` are deleted, where they exist."""
    client = queue_client(connection_string, name)
    if create:
        client.create_queue()
    try:
        yield client
    finally:
        for queue in (client, QueueClient.from_connection_string(connection_string, f"{name}-poison")):
            with contextlib.suppress(Exception):  # a queue nothing ever created
                queue.delete_queue()


def drain_one_by_one(queue: QueueClient, function: Callable[[Any], Any]) -> list[tuple[Any, Any]]:
    """Run the queue's messages through `function` (the queue trigger) one at a time, as the worker hands
    them over, until a receive finds none; each is deleted once the function returns, as the host does.
    Returns each message taken with what the function returned. (`FunctionsHost.drain_queue` is the
    host's concurrent workers, with retries and the poison queue.)"""
    ran: list[tuple[Any, Any]] = []
    while True:
        received = list(queue.receive_messages(messages_per_page=32, visibility_timeout=120))
        if not received:
            return ran
        for message in received:
            ran.append((message, function(worker_message(message))))
            queue.delete_message(message)


@dataclass
class FunctionsHost:
    """The app's functions (by name) and the host's queue settings."""

    functions: dict[str, Callable[..., Any]]
    queue: Any  # azure.storage.queue.QueueClient of the fan-out queue (base64 codec, as the app sends)
    poison: Any  # the `<queue>-poison` QueueClient
    queue_workers: int = 4
    event_workers: int = 8
    max_dequeue: int = 5  # host.json maxDequeueCount
    visibility: int = 60  # seconds a message is hidden while a worker runs it
    retry_after: int = 1  # seconds a failed message stays hidden (host.json visibilityTimeout, scaled)
    counts: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def for_app(cls, app: Any, queue: Any, poison: Any, **settings: Any) -> FunctionsHost:
        functions = {f.get_function_name(): f.get_user_function() for f in app.get_functions()}
        return cls(functions, queue, poison, **settings)

    def _count(self, **counts: int) -> None:
        with self._lock:
            self.counts.update(counts)

    # -- timer ----------------------------------------------------------------------------------------
    def fire_timer(self, past_due: bool = False) -> None:
        self._count(timer=1)
        try:
            self.functions["sweep"](TimerRequest(past_due=past_due))
        except Exception as exc:  # the host logs a failed timer run; the next one runs on schedule
            self._count(timer_failed=1)
            with self._lock:
                self.errors.append(f"sweep: {exc.__class__.__name__}: {exc}")

    # -- queue ----------------------------------------------------------------------------------------
    def drain_queue(self, *, idle_seconds: float = 2.5, deadline_seconds: float = 300) -> None:
        """Run the queue workers until the queue stays empty for `idle_seconds` (messages in their
        visibility time-out after a failure count as not empty: the workers wait for them)."""
        stop = threading.Event()
        last_work = [time.monotonic()]
        deadline = time.monotonic() + deadline_seconds

        def worker() -> None:
            while not stop.is_set() and time.monotonic() < deadline:
                got = list(
                    self.queue.receive_messages(
                        messages_per_page=1, visibility_timeout=self.visibility, max_messages=1
                    )
                )
                if not got:
                    if self._queue_empty() and time.monotonic() - last_work[0] > idle_seconds:
                        stop.set()
                        return
                    time.sleep(0.2)
                    continue
                last_work[0] = time.monotonic()
                self._run_message(got[0])
                last_work[0] = time.monotonic()

        with ThreadPoolExecutor(max_workers=self.queue_workers) as pool:
            for future in [pool.submit(worker) for _ in range(self.queue_workers)]:
                future.result()
        if time.monotonic() >= deadline:
            with self._lock:
                self.errors.append("queue not drained before the harness deadline")

    def _queue_empty(self) -> bool:
        return int(self.queue.get_queue_properties().approximate_message_count or 0) == 0

    def _run_message(self, message: Any) -> None:
        self._count(dequeues=1)
        try:
            self.functions["reconcile_image"](worker_message(message))
        except Exception:
            self._count(message_failures=1)
            if message.dequeue_count >= self.max_dequeue:
                # The host's move to the poison queue: the same content, then the message is deleted.
                self.poison.send_message(message.content)
                self.queue.delete_message(message)
                self._count(poisoned=1)
            else:
                self.queue.update_message(message, visibility_timeout=self.retry_after)
            return
        self.queue.delete_message(message)
        self._count(completed=1)

    # -- Event Grid -----------------------------------------------------------------------------------
    def deliver_events(
        self, payloads: Iterable[dict[str, Any]], rng: random.Random, duplicates: float = 0.2
    ) -> None:
        """Each event at least once, some twice, shuffled; failed deliveries are retried (shuffled in
        among the rest) up to Event Grid's attempt limit."""
        events = list(payloads)
        events += [e for e in events if rng.random() < duplicates]
        rng.shuffle(events)
        pending = [(e, 1) for e in events]

        def deliver(item: tuple[dict[str, Any], int]) -> tuple[dict[str, Any], int] | None:
            payload, attempt = item
            self._count(deliveries=1)
            try:
                self.functions["on_event"](worker_event(payload))
            except Exception:
                self._count(failed_deliveries=1)
                if attempt >= EVENT_GRID_MAX_ATTEMPTS:
                    self._count(dead_lettered_events=1)
                    return None
                return payload, attempt + 1
            return None

        with ThreadPoolExecutor(max_workers=self.event_workers) as pool:
            while pending:
                pending = [again for again in pool.map(deliver, pending) if again is not None]
                if pending:
                    self._count(redeliveries=len(pending))
                    rng.shuffle(pending)
                    time.sleep(0.2)

    # -- everything at once ---------------------------------------------------------------------------
    @staticmethod
    def together(*work: Callable[[], None]) -> None:
        """Run the callables side by side (the host's functions, operators) and wait for all of them."""
        with ThreadPoolExecutor(max_workers=len(work)) as pool:
            for future in [pool.submit(w) for w in work]:
                future.result()


@dataclass
class TagWrite:
    version_id: str
    tag: str
    value: str
    at: datetime


@dataclass
class Operator:
    """Someone editing version tags by hand (portal, `az`): read the tags, write them back with one of
    theirs added. `writes` holds every edit ARM accepted."""

    compute: Any
    resource_group: str
    clock: VirtualTime
    writes: list[TagWrite] = field(default_factory=list)
    refused: int = 0

    def set_tag(self, gallery: str, image: str, version: str, tag: str, value: str, version_id: str) -> bool:
        operations = self.compute.gallery_image_versions
        try:
            current = operations.get(self.resource_group, gallery, image, version).tags or {}
            operations.begin_update(
                self.resource_group, gallery, image, version, {"tags": {**current, tag: value}}, polling=False
            )
        except Exception:  # a version being written or deleted refuses the edit: the operator tries later
            self.refused += 1
            return False
        self.writes.append(TagWrite(version_id, tag, value, self.clock.now()))
        return True
