"""Who may steer a version through events: the gallery's `build_sources` and the rule that decides.

A BuildCompleted (and an approval) changes a version's tags and lifetime, so it is only taken from a sender
the policy names for that gallery. The sender is the Event Grid schema's `topic` (Event Grid sets it to
the topic's resource id; a publisher cannot choose it) or the CloudEvents `source` (the publisher sets it).
An empty `build_sources` list accepts any sender: the README says what that risks.

Pure: no I/O; the reconcile audits and logs a rejection.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lifecycle.model import GalleryRef
    from lifecycle.policy import Policy


def normalize_source(source: str) -> str:
    """Sources compare case-insensitively (ARM resource ids are) and without a trailing slash."""
    return source.strip().rstrip("/").lower()


def is_trusted(policy: Policy, gallery_ref: GalleryRef, source: str | None) -> bool:
    """Whether an event from `source` may change versions of the gallery.

    False for a gallery the policy does not name, and for a missing source when the gallery lists any.
    """
    return untrusted_reason(policy, gallery_ref, source) is None


def untrusted_reason(policy: Policy, gallery_ref: GalleryRef, source: str | None) -> str | None:
    """None when trusted, else why not (for the audit record, the log line and `plan`)."""
    gallery = policy.gallery(gallery_ref)
    if gallery is None:
        return f"gallery {gallery_ref.id} is not in the policy"
    if not gallery.build_sources:
        return None
    if not source or not source.strip():
        return f"the event names no source; gallery {gallery_ref.gallery} trusts only its build_sources"
    wanted = {normalize_source(s) for s in gallery.build_sources}
    if normalize_source(source) in wanted:
        return None
    return f"source {source!r} is not in build_sources of gallery {gallery_ref.gallery}"
