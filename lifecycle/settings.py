"""App settings (environment variables): one frozen object read once per invocation."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

DEFAULT_ARM_ENDPOINT = "https://management.azure.com"


class SettingsError(ValueError):
    """A required setting is missing or malformed."""


@dataclass(frozen=True)
class Settings:
    config_url: str
    storage_connection_string: str | None = None
    state_url: str | None = None
    arm_endpoint: str = DEFAULT_ARM_ENDPOINT
    arm_ca_bundle: str | None = None
    arm_token: str | None = None
    events_endpoint: str | None = None
    events_key: str | None = None
    events_token: str | None = None  # the events endpoint's own static token; never the ARM token
    lease_seconds: int = 60
    arm_retry_total: int = 4
    retry_after_max_seconds: int = 10
    write_reserve: int = 3
    bulk_headroom: int = 50
    time_budget_seconds: int = 480
    image_concurrency: int = 4
    fanout_queue: str | None = None
    queue_max_dequeue: int = 5
    # The longest gap between two sweeps (LIFECYCLE_SWEEP_SCHEDULE): how old a kept in-use inventory may be.
    sweep_interval_seconds: int = 900
    audit_rollover_blocks: int = 40_000
    outbox_max_events: int = 200
    outbox_max_age_hours: int = 168

    @property
    def config_is_blob(self) -> bool:
        return self.config_url.startswith(("https://", "http://"))

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: str | None) -> Settings:
        source = dict(os.environ if env is None else env)
        source.update({k: v for k, v in overrides.items() if v is not None})

        def get(name: str) -> str | None:
            value = source.get(name, "").strip()
            return value or None

        config_url = get("LIFECYCLE_CONFIG_URL")
        if not config_url:
            raise SettingsError(
                "LIFECYCLE_CONFIG_URL is not set: point it at the policy blob or a local file"
            )
        lease = get("LIFECYCLE_LEASE_SECONDS") or "60"
        if not lease.isdigit() or not 15 <= int(lease) <= 60:
            raise SettingsError(f"LIFECYCLE_LEASE_SECONDS must be 15..60 (a blob lease), got {lease!r}")
        endpoint = (get("LIFECYCLE_ARM_ENDPOINT") or DEFAULT_ARM_ENDPOINT).rstrip("/")
        if not endpoint.startswith("https://"):
            raise SettingsError(f"LIFECYCLE_ARM_ENDPOINT must be an https URL, got {endpoint!r}")
        numbers = {
            name: _number(get(key), default, low, high, key) for name, key, default, low, high in _NUMBERS
        }
        return cls(
            config_url=config_url,
            storage_connection_string=get("LIFECYCLE_STORAGE_CONNECTION_STRING"),
            state_url=get("LIFECYCLE_STATE_URL"),
            arm_endpoint=endpoint,
            arm_ca_bundle=get("LIFECYCLE_ARM_CA_BUNDLE"),
            arm_token=get("LIFECYCLE_ARM_TOKEN"),
            events_endpoint=get("LIFECYCLE_EVENTS_ENDPOINT"),
            events_key=get("LIFECYCLE_EVENTS_KEY"),
            events_token=get("LIFECYCLE_EVENTS_TOKEN"),
            lease_seconds=int(lease),
            fanout_queue=_queue_name(get("LIFECYCLE_FANOUT_QUEUE")),
            sweep_interval_seconds=sweep_interval(get("LIFECYCLE_SWEEP_SCHEDULE")),
            **numbers,
        )


# (field, setting, default, lowest, highest)
_NUMBERS = (
    ("retry_after_max_seconds", "LIFECYCLE_RETRY_AFTER_MAX_SECONDS", 10, 0, 60),
    # The run counts its own writes in flight and folds out-of-order answers to the lowest count, so the
    # header lags it by nothing; the reserve covers what the header cannot show yet: a few writes started
    # elsewhere between two answers (a pipeline's publish). Fanned-out images (up to 40 instances, one
    # write in flight each, unseen by each other) always keep the bulk headroom (50) on top of it.
    ("write_reserve", "LIFECYCLE_WRITE_RESERVE", 3, 0, 1000),
    ("bulk_headroom", "LIFECYCLE_BULK_HEADROOM", 50, 0, 1000),
    # Well under host.json's functionTimeout (10 minutes): the run stops starting work after it.
    ("time_budget_seconds", "LIFECYCLE_TIME_BUDGET_SECONDS", 480, 10, 3600),
    ("image_concurrency", "LIFECYCLE_IMAGE_CONCURRENCY", 4, 1, 32),
    # Must match host.json extensions.queues.maxDequeueCount: the try after which a message is poison.
    ("queue_max_dequeue", "LIFECYCLE_QUEUE_MAX_DEQUEUE", 5, 1, 100),
    # Blocks after which the day's audit log goes on in a new append blob: Azure caps one at 50,000.
    ("audit_rollover_blocks", "LIFECYCLE_AUDIT_ROLLOVER_BLOCKS", 40_000, 1, 45_000),
    # The outbox's bounds, per image (and for the run's own events): unsent events beyond the count, or
    # older than the age, leave it for the dead letters (`outbox/dead-letters.json`).
    ("outbox_max_events", "LIFECYCLE_OUTBOX_MAX_EVENTS", 200, 1, 10_000),
    ("outbox_max_age_hours", "LIFECYCLE_OUTBOX_MAX_AGE_HOURS", 168, 1, 24 * 90),
)


def _queue_name(value: str | None) -> str | None:
    """A Storage queue name: 3-63 lowercase letters, digits and single hyphens, not at either end."""
    if value is None:
        return None
    if not re.fullmatch(r"[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}", value):
        raise SettingsError(
            f"LIFECYCLE_FANOUT_QUEUE must be a Storage queue name (3-63 lowercase letters, digits, "
            f"single hyphens), got {value!r}"
        )
    return value


def _number(value: str | None, default: int, low: int, high: int, key: str) -> int:
    if value is None:
        return default
    if not value.isdigit() or not low <= int(value) <= high:
        raise SettingsError(f"{key} must be a whole number {low}..{high}, got {value!r}")
    return int(value)


DEFAULT_SWEEP_SCHEDULE = "0 */15 * * * *"


def sweep_interval(schedule: str | None) -> int:
    """The longest gap, in seconds, between two fires of the sweep's NCRONTAB schedule (six fields, seconds
    first, as the Functions timer reads it), over the eight days after a fixed Monday."""
    from datetime import UTC, datetime, timedelta

    from croniter import croniter

    text = schedule or DEFAULT_SWEEP_SCHEDULE
    if len(text.split()) != 6 or not croniter.is_valid(text, second_at_beginning=True):
        raise SettingsError(
            f"LIFECYCLE_SWEEP_SCHEDULE must be a six-field NCRONTAB expression (second minute hour day "
            f"month weekday), got {text!r}"
        )
    start = datetime(2026, 1, 5, tzinfo=UTC)
    fires = croniter(text, start, second_at_beginning=True)
    previous = fires.get_next(datetime)
    longest = 0.0
    for _ in range(2000):
        current = fires.get_next(datetime)
        longest = max(longest, (current - previous).total_seconds())
        previous = current
        if current - start > timedelta(days=8):
            break
    return max(1, int(longest))
