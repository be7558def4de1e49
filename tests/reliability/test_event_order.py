"""Fuzzed order: the valid events of a gallery's new versions (version writes and build events), delivered
through the function handler in a generated order, with generated duplicates, against the emulator and
Azurite. A twin image gets the build events in order and one reconcile. Properties: the image ends in the
twin's state (regions, end-of-life, `latest`, tags) and the delivered events made no ARM write beyond the
twin's. The policy is that of a gallery whose builds report in (`metadata.await_build_minutes`); without
it a write event that beats its build event costs a second write by design (see README).

The handler runs on the real clock, so the emulator's clock is brought to it before versions are
published. Each example uses two new image definitions of the gallery the fixture made.
"""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lifecycle.reconcile import Trigger, reconcile
from lifecycle.triggers import handle_event
from tests.integration.conftest import GALLERY, GALLERY_ID, Env
from tests.reliability import figures
from tests.reliability.gallery import create_image, create_version, versions
from tests.reliability.strategies import build_event, write_event

pytestmark = pytest.mark.integration
SUITE = "fuzz: event order"
# (version, how long before now it was published): one long expired, two just published with builds.
TIMELINE = (
    ("1.0.0", timedelta(days=100)),
    ("1.0.1", timedelta(minutes=3)),
    ("1.0.2", timedelta(minutes=2)),
)
NEW = ("1.0.1", "1.0.2")
_counter = itertools.count()


def policy() -> str:
    return json.dumps(
        {
            "schema": 1,
            "defaults": {
                "replication": {"regions": {"eastus": 1, "westeurope": 1}},
                "metadata": {"tags": {"owner": "platform"}, "await_build_minutes": 30},
                "retention": {"lifetime_days": 90, "keep_latest": 2},
            },
            "galleries": [{"id": GALLERY_ID}],
        }
    )


def events(image: str, schema: str) -> list[dict[str, Any]]:
    """Every valid event of one image's life: a write event per version, a build event per new one."""
    out = [write_event(schema, f"{GALLERY_ID}/images/{image}/versions/{v}") for v, _ in TIMELINE]
    out += [build(image, v, schema) for v in NEW]
    return out


def build(image: str, version: str, schema: str = "eventgrid") -> dict[str, Any]:
    vid = f"{GALLERY_ID}/images/{image}/versions/{version}"
    return build_event(schema, vid, buildId=f"b-{version}", commit="c0ffee" + version.replace(".", ""))


def publish(env: Env, image: str) -> None:
    now = datetime.now(UTC)
    create_image(env, GALLERY, image)
    for version, age in TIMELINE:
        env.emulator.set_time(now - age)
        create_version(env, GALLERY, image, version)
    env.emulator.set_time(now)


@st.composite
def deliveries(draw: st.DrawFn) -> tuple[list[int], str]:
    """An order of the image's events (indices into `events`), with some delivered more than once."""
    schema = draw(st.sampled_from(["eventgrid", "cloudevents"]))
    base = list(range(len(TIMELINE) + len(NEW)))
    repeated = draw(st.lists(st.sampled_from(base), max_size=4))
    return draw(st.permutations(base + repeated)), schema


@settings(
    max_examples=figures.scale(4, 40),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=deliveries())
def test_any_order_and_duplicates_of_valid_events_end_as_the_twin_with_no_extra_write(
    case: tuple[list[int], str], env: Env
) -> None:
    order, schema = case
    if env.grants is None:  # the first example: one policy for all of them
        env.put_policy(policy())
    n = next(_counter)
    stormed, twin = f"order-{n}", f"twin-{n}"
    publish(env, stormed)
    publish(env, twin)
    payloads = events(stormed, schema)

    before = env.writes()
    for index in order:
        handle_event(payloads[index])
    delivered = env.writes() - before

    before = env.writes()
    for version in NEW:
        handle_event(build(twin, version))
    reconcile(Trigger("cli", scope=f"{GALLERY_ID}/images/{twin}"))
    reference = env.writes() - before

    failures: list[str] = []
    figures.add(SUITE, inputs=1, deliveries=len(order))
    got, want = versions(env, GALLERY, stormed), versions(env, GALLERY, twin)
    figures.check(SUITE, got == want, f"order {order}: {got} != twin {want}", failures)
    figures.check(
        SUITE, delivered <= reference, f"order {order}: {delivered} writes, the twin {reference}", failures
    )
    assert not failures, failures
