"""The policy in force: read from its blob (or file), validated, cached by ETag, and remembered.

The last accepted policy is kept in the state container and stays in force while a newer document is
rejected. A rejection is logged, audited and published once per rejected document.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from lifecycle.gateways.errors import GatewayError, PreconditionFailed
from lifecycle.gateways.ports import StateStore
from lifecycle.gateways.storage import PolicySource
from lifecycle.model import iso
from lifecycle.notifications import Notification, NotificationType
from lifecycle.policy import MAX_POLICY_BYTES, Policy, PolicyError, parse_policy

log = logging.getLogger(__name__)
ACCEPTED = "policy/accepted.json"
REJECTED = "policy/rejected.json"

# Per policy URL: (ETag, policy in force, problem). A rejected document is parsed and recorded once.
_cache: dict[str, tuple[str, Policy | None, str | None]] = {}
_cache_lock = threading.Lock()


@dataclass(frozen=True)
class PolicyStatus:
    """The policy to use and how it was obtained.

    `policy` is None when no valid policy has ever been accepted. `problem` is set when the current
    document is rejected or unreadable: deletes are then paused.
    """

    policy: Policy | None
    etag: str | None
    problem: str | None = None
    newly_rejected: Notification | None = None
    newly_accepted: bool = False
    unreadable: bool = False  # the problem is that the document cannot be read (not that it is invalid)


def load_policy(
    source: PolicySource, store: StateStore, now: datetime, *, remember: bool = True
) -> PolicyStatus:
    try:
        document = source.read(max_bytes=MAX_POLICY_BYTES)
    except GatewayError as exc:
        fallback = _last_accepted(store)
        return PolicyStatus(fallback, None, problem=f"policy cannot be read: {exc}", unreadable=True)

    with _cache_lock:
        cached = _cache.get(source.url)
    if cached and cached[0] == document.etag:
        # The same document as last time: accepted, or already rejected and recorded.
        return PolicyStatus(cached[1], document.etag, problem=cached[2])

    try:
        if document.oversized:
            raise PolicyError(
                [
                    f"the document is {document.size} bytes; a policy may be at most "
                    f"{MAX_POLICY_BYTES} bytes (it was not downloaded)"
                ],
                source.url,
            )
        policy = parse_policy(document.content, source=source.url)
    except PolicyError as exc:
        log.error(
            "policy rejected", extra={"policy": source.url, "etag": document.etag, "problems": exc.problems}
        )
        notification = None
        fallback = _last_accepted(store)
        if remember:
            notification = _remember_rejection(store, document.etag, exc, now, source.url)
            with _cache_lock:
                _cache[source.url] = (document.etag, fallback, str(exc))
        return PolicyStatus(fallback, document.etag, problem=str(exc), newly_rejected=notification)

    with _cache_lock:
        _cache[source.url] = (document.etag, policy, None)
    accepted = False
    if remember:
        accepted = _remember_acceptance(store, document.etag, document.content, now, source.url)
    return PolicyStatus(policy, document.etag, newly_accepted=accepted)


def _last_accepted(store: StateStore) -> Policy | None:
    try:
        saved, _ = store.read_json(ACCEPTED)
    except GatewayError:
        return None
    if not saved:
        return None
    try:
        return parse_policy(saved["content"], source="last accepted policy")
    except (PolicyError, KeyError):
        return None


def _remember_acceptance(store: StateStore, etag: str, content: bytes, now: datetime, url: str) -> bool:
    saved, saved_etag = store.read_json(ACCEPTED)
    if saved and saved.get("etag") == etag:
        return False
    record = {"etag": etag, "accepted_at": iso(now), "source": url, "content": content.decode("utf-8-sig")}
    try:
        store.write_json(ACCEPTED, record, etag=saved_etag)
    except PreconditionFailed:
        return False  # another instance recorded it first
    log.info("policy accepted", extra={"policy": url, "etag": etag})
    return True


def _remember_rejection(
    store: StateStore, etag: str, error: PolicyError, now: datetime, url: str
) -> Notification | None:
    try:
        saved, saved_etag = store.read_json(REJECTED)
        if saved and saved.get("etag") == etag:
            return None
        record: dict[str, Any] = {
            "etag": etag,
            "rejected_at": iso(now),
            "source": url,
            "problems": error.problems,
        }
        store.write_json(REJECTED, record, etag=saved_etag)
    except PreconditionFailed:
        return None
    except GatewayError as exc:
        log.warning("could not record the policy rejection", extra={"error": str(exc)})
    return Notification(
        NotificationType.CONFIG_REJECTED,
        url,
        {"etag": etag, "problems": error.problems, "rejectedAt": iso(now)},
    )


def clear_cache() -> None:
    with _cache_lock:
        _cache.clear()
