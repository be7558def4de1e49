"""One delete allowance per sweep interval across the deployment (`retention.max_deletes_per_run`): the timer
sweep, every fan-out message it sends (handled by several workers at once) and CLI runs share it; event runs
delete nothing. Claimed with conditional writes in the state container: Azurite's blobs, or a local
directory."""

from __future__ import annotations

import json
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.storage.queue import QueueClient

from lifecycle.gateways.storage import BlobStateStore, LocalStateStore, StateStore
from lifecycle.reconcile import Trigger, reconcile
from lifecycle.reconcile.allowance import DOCUMENT, DeleteAllowance
from lifecycle.settings import Settings
from tests.harness.host import drain_one_by_one, fanout_queue
from tests.harness.host import worker_message as queue_message
from tests.integration.conftest import GALLERY_ID, Env
from tests.integration.host import handlers, publish_in_the_past, timer, version_written

pytestmark = pytest.mark.integration
IMAGES = tuple(f"img-{i:02d}" for i in range(6))
CAP = 5
RETENTION = {"lifetime_days": 30, "keep_latest": 1, "delete_after_days": 10, "max_deletes_per_run": CAP}


def claim_concurrently(store_factory: Callable[[], StateStore], workers: int, each: int, cap: int) -> int:
    """`workers` instances (each with its own store client) claim `each` deletes at once; total granted."""
    opened = datetime.now(UTC)
    DeleteAllowance(store_factory()).open(opened)
    barrier = threading.Barrier(workers)

    def one(_: int) -> int:
        allowance = DeleteAllowance(store_factory())
        barrier.wait()
        return sum(allowance.claim(1, cap, now=opened, length=timedelta(hours=1)) for _ in range(each))

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return sum(pool.map(one, range(workers)))


def test_concurrent_claims_on_blob_storage_never_exceed_the_cap(env: Env) -> None:
    settings = Settings.from_env()
    granted = claim_concurrently(lambda: BlobStateStore(settings, env.state_url), workers=8, each=3, cap=7)
    assert granted == 7
    saved = json.loads(env.state_container().get_blob_client(DOCUMENT).download_blob().readall())
    assert saved["used"] == 7


def test_concurrent_claims_in_a_local_directory_never_exceed_the_cap(tmp_path: Path) -> None:
    granted = claim_concurrently(lambda: LocalStateStore(tmp_path), workers=8, each=3, cap=7)
    assert granted == 7
    assert json.loads((tmp_path / DOCUMENT).read_text())["used"] == 7


@pytest.fixture()
def fleet(env: Env, policy_text: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Env, QueueClient]]:
    """Six images, each with two expired versions past their grace period and a newest one kept; the
    fan-out queue configured."""
    name = f"fanout-{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv("LIFECYCLE_FANOUT_QUEUE", name)
    env.put_policy(policy_text(retention=RETENTION))
    for image in IMAGES:
        env.create_image(image)
        publish_in_the_past(env, image, ("1.0.0", "1.1.0", "2.0.0"))
    with fanout_queue(env.azurite.connection_string, name) as client:
        yield env, client


def remaining(env: Env) -> int:
    return sum(
        1
        for image in IMAGES
        for v in env.compute.gallery_image_versions.list_by_gallery_image("rg-images", "golden", image)
        if v.name in ("1.0.0", "1.1.0")
    )


def test_one_sweep_its_messages_events_and_an_apply_delete_at_most_the_cap(
    fleet: tuple[Env, QueueClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    env, queue = fleet
    functions = handlers(monkeypatch)
    assert remaining(env) == 12

    functions["sweep"](timer())
    messages = list(queue.receive_messages(messages_per_page=32, visibility_timeout=120))
    assert len(messages) == len(IMAGES)

    def work(item: tuple[int, Any]) -> None:
        index, message = item
        functions["reconcile_image"](queue_message(message))
        queue.delete_message(message)
        if index < 3:  # Event Grid delivers alongside the workers: events delete nothing
            image = IMAGES[index]
            functions["on_event"](version_written(f"{GALLERY_ID}/images/{image}/versions/1.0.0", f"e{index}"))

    with ThreadPoolExecutor(max_workers=4) as pool:  # handled 4 at a time, as a host instance would
        list(pool.map(work, enumerate(messages)))
    # With the fan-out queue an event only enqueues its image: those runs share the sweep's allowance too.
    drain_one_by_one(queue, functions["reconcile_image"])
    assert remaining(env) == 12 - CAP, "the sweep's allowance is shared by all its messages"

    # An apply before the next sweep shares the same interval: nothing left to delete.
    report = reconcile(Trigger("cli"))
    assert report.summary()["failed"] == 0
    assert remaining(env) == 12 - CAP
    assert any("max_deletes_per_run" in n for p in report.plans for v in p.versions for n in v.notes)

    # The next sweep opens a new interval. Its messages come with those the events enqueued (with the queue
    # configured, an event only records and enqueues): two messages of one image may run at once, and the
    # one that finds the image's lease held fails, as the host would see it, to be tried again later.
    functions["sweep"](timer())

    def deliver(message: Any) -> None:
        try:
            functions["reconcile_image"](queue_message(message))
        except sys.modules["lifecycle.triggers"].MessageNotProcessed:  # the module the handlers came from
            return
        queue.delete_message(message)

    with ThreadPoolExecutor(max_workers=4) as pool:
        batch = list(queue.receive_messages(messages_per_page=32, visibility_timeout=120))
        list(pool.map(deliver, batch))
    assert remaining(env) == 12 - 2 * CAP


def test_an_event_run_deletes_nothing(env: Env, policy_text: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    env.put_policy(policy_text(retention=RETENTION))
    env.create_image("solo")
    publish_in_the_past(env, "solo", ("1.0.0", "2.0.0"))
    functions = handlers(monkeypatch)
    functions["on_event"](version_written(f"{GALLERY_ID}/images/solo/versions/1.0.0", "evt-1"))
    assert env.version("solo", "1.0.0")["tags"]["lifecycle.state"] == "expired"  # retired, not deleted
    functions["sweep"](timer())  # no queue: the sweep runs the image itself, and deletes
    with pytest.raises(ResourceNotFoundError):
        env.version("solo", "1.0.0")
