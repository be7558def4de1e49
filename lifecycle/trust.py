"""Who may steer a version through events: one pure decision over a gallery's `build_sources` and
`approval_sources`.

A BuildCompleted changes a version's tags and can lengthen its lifetime; a VersionApproved lets a held
version into `latest`. Both are taken only from a sender Event Grid vouches for: in the Event Grid schema
Event Grid stamps `topic` with the resource id of the topic the event was published to (a publisher that
sets it to anything else is refused by Event Grid), so only an identity with Data Sender on that topic can
send it. A CloudEvents `source` is written by the sender and vouches for nothing.

- builds: from a topic in `build_sources`, in the Event Grid schema. With `build_sources` empty any sender
  in either schema is accepted (open mode; docs/events.md says what that risks).
- approvals: from a topic in `approval_sources`, in the Event Grid schema, never from a build source (a
  builder never approves its own build). With `approval_sources` empty no event approves: approvals come
  only from the tag `lifecycle.approved-by` or `python -m lifecycle approve`.

`trust_decision` is the one rule every path calls (the inline reconcile and the queued one). Pure: no I/O;
callers log and audit a refusal.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from lifecycle.policy import GalleryPolicy

EventKind = Literal["build", "approval"]
BUILD: EventKind = "build"
APPROVAL: EventKind = "approval"
# The schema an event was delivered in (lifecycle.events names them the same way).
EVENTGRID = "eventgrid"
CLOUDEVENTS = "cloudevents"


def normalize_source(source: str) -> str:
    """Topic ids compare case-insensitively (ARM resource ids are) and without a trailing slash."""
    return source.strip().rstrip("/").lower()


def trust_decision(
    gallery: GalleryPolicy | None, kind: EventKind, schema: str, sender: str | None
) -> str | None:
    """Whether an event of `kind` may act on a version of `gallery`: None when it may, else why not.

    `schema` is the schema the event was delivered in (`eventgrid` or `cloudevents`); `sender` is what the
    event names as its origin: the Event Grid schema's `topic` (stamped by Event Grid) or the CloudEvents
    `source` (written by the sender). The reason names the gallery, the sender and the list it missed, for
    the audit record, the log line and `--json`.
    """
    if gallery is None:
        return "the gallery is not in the policy"
    name = gallery.ref.gallery
    shown = repr(sender) if sender else "(none)"
    if kind == BUILD:
        if not gallery.build_sources:
            return None  # open mode
        listed = "build_sources"
    elif kind == APPROVAL:
        if not gallery.approval_sources:
            return (
                f"gallery {name} lists no approval_sources: approvals come only from the tag "
                "lifecycle.approved-by or `approve`"
            )
        listed = "approval_sources"
    else:
        return f"no event may {kind} a version"
    what = "builds" if kind == BUILD else "approvals"
    if schema != EVENTGRID:
        told = "a CloudEvents" if schema == CLOUDEVENTS else f"a {schema or 'schema-less'}"
        return (
            f"{told} {kind} event vouches for nothing (its source {shown} is written by the sender); "
            f"gallery {name} takes {what} only in the Event Grid schema from a topic in its {listed}"
        )
    if not sender:
        return f"the event carries no topic; gallery {name} takes {what} only from its {listed}"
    key = normalize_source(sender)
    if kind == APPROVAL and key in _keys(gallery.build_sources):
        return f"topic {shown} is a build source of gallery {name}: a builder never approves its own build"
    if key in _keys(gallery.build_sources if kind == BUILD else gallery.approval_sources):
        return None
    return f"topic {shown} is not in {listed} of gallery {name}"


def _keys(sources: list[str]) -> set[str]:
    return {normalize_source(s) for s in sources}
