"""The lifecycle tags: their names, and the one place that merges them onto a version within Azure's limits.

Writes merge our keys only and happen only when a value changes. Tags are readable by every Reader of the
resource and by Resource Graph, so no secret may reach one: URL-shaped values lose their query string and
fragment (where SAS tokens live) here, and `scrub` does the same for audit records.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

log = logging.getLogger(__name__)

PREFIX = "lifecycle."
STATE = "lifecycle.state"
BUILD_ID = "lifecycle.build-id"
COMMIT = "lifecycle.commit"
PIPELINE_RUN = "lifecycle.pipeline-run"
SBOM = "lifecycle.sbom"
APPROVER = "lifecycle.approver"
BASE_IMAGE = "lifecycle.base-image"
# A trusted build's `lifetimeDays`, kept on the version so a longer lifetime outlives the state file.
LIFETIME_DAYS = "lifecycle.lifetime-days"

# The only lifecycle tags event data may set (PRODUCT.md section 5, plus the build's lifetime).
EVENT_TAGS = frozenset({BUILD_ID, COMMIT, PIPELINE_RUN, SBOM, APPROVER, BASE_IMAGE, LIFETIME_DAYS})

HOLD = "lifecycle.hold"  # set by operators, never by the app: "true" keeps the version whatever the policy
APPROVED_BY = "lifecycle.approved-by"  # set by an approver (or by the app for an `approve` / VersionApproved)
REVOKED_REASON = "lifecycle.revoked-reason"
PARENT_REVOKED = "lifecycle.parent-revoked"  # the revoked version this one was built on
# What Azure flagged, or the platform validation that failed.
QUARANTINE_REASON = "lifecycle.quarantine-reason"
# Regions whose own excludeFromLatest the app set (comma-separated): cleared again on promotion; a region
# excluded by anyone else is kept.
EXCLUDED_REGIONS = "lifecycle.excluded-regions"

STATE_ACTIVE = "active"
STATE_EXPIRED = "expired"
STATE_PENDING = "pending"  # held out of `latest` until replicated (promote_when_replicated)
STATE_PENDING_APPROVAL = "pending-approval"  # held out of `latest` until approved (approval.required)
STATE_REVOKED = "revoked"  # out of `latest` for good; retention goes on as for an expired version
STATE_PENDING_VALIDATION = "pending-validation"  # held until every platform validation Succeeded
STATE_QUARANTINED = "quarantined"  # flagged by Azure or failed its validation: out of `latest` until cleared

MAX_TAGS = 50
MAX_NAME = 512
MAX_VALUE = 256
_FORBIDDEN = set("<>%&\\?/")


def get(tags: Mapping[str, str], name: str) -> str | None:
    """A tag's value, its name matched case-insensitively as Azure does; blank counts as unset."""
    value = next((v for k, v in tags.items() if k.lower() == name), None)
    return (value.strip() or None) if isinstance(value, str) else None


def tag_changes(current: Mapping[str, str], desired: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    """The tags to set so `current` carries `desired`, and warnings for what had to be cut or skipped.

    Names are compared case-insensitively, as Azure does. Values over 256 characters are cut; invalid
    names are skipped; nothing is added past Azure's 50-tag limit.
    """
    warnings: list[str] = []
    existing = {name.lower(): name for name in current}
    changes: dict[str, str] = {}
    count = len(current)
    for name, value in desired.items():
        if not name or len(name) > MAX_NAME or set(name) & _FORBIDDEN:
            warnings.append(f"tag {name!r} skipped: Azure does not allow this name")
            continue
        value = strip_url_secrets(str(value))
        if len(value) > MAX_VALUE:
            warnings.append(f"tag {name!r} cut to {MAX_VALUE} characters (was {len(value)})")
            value = value[:MAX_VALUE]
        present = existing.get(name.lower())
        if present is not None and current[present] == value:
            continue
        if present is None:
            if count >= MAX_TAGS:
                warnings.append(f"tag {name!r} skipped: the version already has {MAX_TAGS} tags")
                continue
            count += 1
        changes[present or name] = value
    return changes, warnings


def merged(current: Mapping[str, str], changes: Mapping[str, str]) -> dict[str, str]:
    """The full tag set to send: ARM replaces a resource's tags as a whole on PATCH."""
    out = dict(current)
    out.update(changes)
    return out


# scheme://... anywhere in a value: a URL whose query or fragment may carry a SAS token or other secret.
_URL = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s\"'<>]+")


def _strip_one(url: str) -> str:
    try:
        parts = urlsplit(url)
    except ValueError:
        # Unparseable (say, a bad IPv6 host): keep only what precedes any query or fragment.
        return re.split(r"[?#]", url, maxsplit=1)[0]
    if not parts.query and not parts.fragment and "@" not in parts.netloc:
        return url
    netloc = parts.netloc.rsplit("@", 1)[-1]  # user:password@ is a secret too
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def strip_url_secrets(value: str) -> str:
    """`value` with every URL in it cut before its query string and fragment (and user info).

    `https://acct.blob.core.windows.net/sboms/1.json?sv=...&sig=...` becomes
    `https://acct.blob.core.windows.net/sboms/1.json`; text that is not a URL is returned unchanged.
    """
    if "://" not in value:
        return value
    return _URL.sub(lambda m: _strip_one(m.group(0)), value)


def scrub(value: Any) -> Any:
    """A JSON-like value with `strip_url_secrets` applied to every string in it (audit records)."""
    if isinstance(value, str):
        return strip_url_secrets(value)
    if isinstance(value, Mapping):
        return {k: scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(v) for v in value]
    return value
